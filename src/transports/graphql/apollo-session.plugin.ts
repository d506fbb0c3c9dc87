import { Injectable, SetMetadata } from '@nestjs/common';
import type { GraphQLContextValue } from './graphql-exchange.js';
import type { DocumentNode, GraphQLSchemaLike, OperationNode } from './graphql-operation-behavior.js';
import { GraphQLSessionHooks } from './graphql-session-hooks.js';

/** @nestjs/apollo's `@Plugin()` metadata key: providers marked with it are added to Apollo Server's plugins. */
const APOLLO_PLUGIN_METADATA = 'graphql:plugin';

/** The parts of Apollo Server's request context this plugin reads. */
interface ApolloRequestContext {
  contextValue: GraphQLContextValue;
  schema: GraphQLSchemaLike;
  document?: DocumentNode;
  operation?: OperationNode | null;
  errors?: readonly unknown[];
  response: {
    http: { status?: number };
    body:
      | { kind: 'single'; singleResult: { data?: unknown; errors?: unknown[] } }
      | { kind: 'incremental'; initialResult: { data?: unknown; errors?: unknown[] } };
  };
}

/**
 * An Apollo Server plugin, picked up by @nestjs/apollo from any module (as `@Plugin()` classes are):
 * acquires the session once the operation is resolved (before any resolver), completes it when the
 * response is about to be sent. Inert in an application without Apollo.
 */
@Injectable()
@SetMetadata(APOLLO_PLUGIN_METADATA, true)
export class SessionStateApolloPlugin {
  constructor(private readonly hooks: GraphQLSessionHooks) {}

  async requestDidStart() {
    const hooks = this.hooks;
    return {
      async didResolveOperation(request: ApolloRequestContext): Promise<void> {
        await hooks.beforeExecution(request.contextValue, request.schema, request.document!, request.operation ?? undefined);
      },
      async willSendResponse(request: ApolloRequestContext): Promise<void> {
        const body = request.response.body;
        const result = body.kind === 'single' ? body.singleResult : body.initialResult;
        const answer = await hooks.afterExecution(request.contextValue, Boolean(result.errors?.length || request.errors?.length));
        if (!answer) return;
        const { error, keepData } = answer;
        result.errors = [...(result.errors ?? []), error];
        if (keepData) return;
        // The session's changes were not saved: its status, and no data that shows them.
        result.data = null;
        const status = (error as { extensions?: { http?: { status?: number } } }).extensions?.http?.status;
        if (status) request.response.http.status = status;
      },
    };
  }
}
