import type { INestApplication, Provider, Type } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import request from 'supertest';
import { SessionStateModule, type SessionStateModuleOptions } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { createTestApp, type AdapterName } from '../support/test-app.js';
import { AccessorGuard, CounterResolver, ProfileResolver } from './fixtures/graphql-counter.resolver.js';
import { SessionTestController } from './fixtures/session-test.controller.js';

/** The GraphQL server of each adapter: Apollo on Express, Mercurius on Fastify. */
export const GRAPHQL_SERVER = { express: 'Apollo', fastify: 'Mercurius' } as const;

export function graphqlModule(adapter: AdapterName, extra: Record<string, unknown> = {}) {
  return adapter === 'express'
    ? GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, allowBatchedHttpRequests: true, ...extra })
    : GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true, allowBatchedQueries: true, ...extra });
}

export interface GraphQLApp {
  app: INestApplication;
  http: unknown;
  gates: Gates;
  store: SessionStateStore;
  counter: StoreCallCounter;
  guard: AccessorGuard;
}

/** The code-first counter resolvers (and the HTTP test controller) on the adapter's GraphQL server. */
export async function startGraphQLApp(
  adapter: AdapterName,
  options: SessionStateModuleOptions = {},
  providers: Provider[] = [],
  graphqlOptions: Record<string, unknown> = {},
  controllers: Type[] = [],
): Promise<GraphQLApp> {
  const { store, counter } = countingStore(options.store ?? new InMemorySessionStateStore());
  const gates = new Gates();
  const app = await createTestApp(adapter, {
    imports: [SessionStateModule.forRoot({ ...options, store }), graphqlModule(adapter, graphqlOptions)],
    controllers: [SessionTestController, ...controllers],
    providers: [{ provide: Gates, useValue: gates }, CounterResolver, ProfileResolver, AccessorGuard, ...providers],
  });
  return { app, http: app.getHttpServer(), gates, store, counter, guard: app.get(AccessorGuard) };
}

/** POSTs a GraphQL request (one operation, or a batch) and returns the response. */
export function gql(http: unknown, body: object | object[], cookie?: string) {
  const req = request(http as never)
    .post('/graphql')
    .set('Content-Type', 'application/json');
  if (cookie) req.set('Cookie', cookie);
  return req.send(body);
}
