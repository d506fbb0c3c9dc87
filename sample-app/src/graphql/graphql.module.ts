import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import type { DynamicModule } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';

export type HttpAdapterName = 'express' | 'fastify';

/**
 * `/graphql`, code-first (the schema is generated in memory): Apollo Server on Express, Mercurius on
 * Fastify. The session works the same on both: nothing session-specific to configure here.
 */
export function graphqlModuleFor(adapter: HttpAdapterName): DynamicModule {
  return adapter === 'fastify'
    ? GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true, allowBatchedQueries: true })
    : GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, allowBatchedHttpRequests: true });
}
