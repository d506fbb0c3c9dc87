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
      try {
        await hooks.beforeExecution(context, schema, document, selectOperation(document, operationNameOf(context)));
      } catch (error) {
        // The session could not be had (503, 409…): that status, as on Apollo. Mercurius answers a
        // hook's error by its formatter, whose status is the GraphQL error's `originalError.statusCode`
        // (else 200). Its `graphql` (CommonJS) may not be ours (ESM): then it wraps ours, which becomes
        // that `originalError`. Either way the status is found; nothing else is added to the error.
        const status = statusOf(error);
        if (status !== undefined && error instanceof Error) Object.assign(error, { statusCode: status, originalError: { statusCode: status } });
        throw error;
      }
    });
    graphql.addHook('onResolution', async (execution, context) => {
      const answer = await hooks.afterExecution(context, Boolean(execution.errors?.length));
      if (!answer) return;
      const { error, keepData } = answer;
      execution.errors = [...(execution.errors ?? []), error];
      if (keepData) return;
      // The session's changes were not saved: never a 2xx, nor data that shows them (as on Apollo).
      // Mercurius chose its status before this hook; its reply is still unsent. In a batch, the
      // session's last operation says so for the whole answer (they shared the session).
      execution.data = null;
      setStatus(context, error);
    });
  }
}

/** The HTTP status a session error of the hooks carries (see to-graphql-error.ts). */
function statusOf(error: unknown): number | undefined {
  return (error as { extensions?: { http?: { status?: number } } } | undefined)?.extensions?.http?.status;
}

/** That status on Mercurius's reply (still unsent when its onResolution hooks run). */
function setStatus(context: MercuriusContext, error: unknown): void {
  const status = statusOf(error);
  if (status) context.reply?.code(status);
}

/** As Mercurius reads it: a POST's from its body only (a URL's `operationName` is not the one it runs), a GET's from the URL. */
function operationNameOf(context: MercuriusContext): string | undefined {
  const req = context.req as { method?: string; body?: unknown; query?: { operationName?: string } } | undefined;
  if (req?.method === 'GET') return req.query?.operationName;
  const body = Array.isArray(req?.body) ? req.body[context.operationId ?? 0] : req?.body;
  return (body as { operationName?: string } | undefined)?.operationName ?? undefined;
}
