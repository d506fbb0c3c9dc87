import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { GraphQLContextValue } from './graphql-exchange.js';
import { selectOperation, type DocumentNode, type GraphQLSchemaLike } from './graphql-operation-behavior.js';
import { GraphQLSessionHooks } from './graphql-session-hooks.js';

interface MercuriusContext extends GraphQLContextValue {
  /** The index of the operation in a batched request. */
  operationId?: number;
  reply?: { code(status: number): unknown };
}
interface Mercurius {
  addHook(name: 'preExecution', hook: (schema: GraphQLSchemaLike, document: DocumentNode, context: MercuriusContext) => Promise<void>): void;
  addHook(name: 'onResolution', hook: (execution: { data?: unknown; errors?: unknown[] }, context: MercuriusContext) => Promise<void>): void;
}

/**
 * Adds the session hooks to Mercurius when the application serves GraphQL with it (the Nest driver
 * has registered it on Fastify by the time applications bootstrap). Inert otherwise.
 */
@Injectable()
export class MercuriusSessionHooks implements OnApplicationBootstrap {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly hooks: GraphQLSessionHooks,
  ) {}

  onApplicationBootstrap(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (adapter?.getType?.() !== 'fastify') return;
    const graphql = (adapter.getInstance() as { graphql?: Partial<Mercurius> }).graphql;
    if (typeof graphql?.addHook !== 'function') return;
    const hooks = this.hooks;
    graphql.addHook('preExecution', async (schema, document, context) => {
      await hooks.beforeExecution(context, schema, document, selectOperation(document, operationNameOf(context)));
    });
    graphql.addHook('onResolution', async (execution, context) => {
      const error = await hooks.afterExecution(context, Boolean(execution.errors?.length));
      if (!error) return;
      // The session's changes were not saved: never a 2xx, nor data that shows them (as on Apollo).
      // Mercurius chose its status before this hook; its reply is still unsent. In a batch, the
      // session's last operation says so for the whole answer (they shared the session).
      execution.errors = [...(execution.errors ?? []), error];
      execution.data = null;
      const status = (error as { extensions?: { http?: { status?: number } } }).extensions?.http?.status;
      if (status) context.reply?.code(status);
    });
  }
}

function operationNameOf(context: MercuriusContext): string | undefined {
  const req = context.req as { body?: unknown; query?: { operationName?: string } } | undefined;
  const body = Array.isArray(req?.body) ? req.body[context.operationId ?? 0] : req?.body;
  return (body as { operationName?: string } | undefined)?.operationName ?? req?.query?.operationName;
}
