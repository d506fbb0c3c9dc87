import { Injectable, Logger } from '@nestjs/common';
import type { SessionExchange } from '../../core/session-exchange.js';
import { loggableMessage } from '../../observability/store-failure-log.js';
import { leaseOf, type SessionLease } from '../../core/session-lease.js';
import { SessionStateBehavior, type ResolvedBehavior } from '../../core/session-state-behavior.enum.js';
import { SessionStateLifecycle } from '../../core/session-state.lifecycle.js';
import { graphqlExchange, graphqlKeyOf, type GraphQLContextValue } from './graphql-exchange.js';
import {
  operationBehavior,
  selectOperation,
  strongest,
  type DocumentNode,
  type GraphQLSchemaLike,
  type OperationNode,
} from './graphql-operation-behavior.js';
import { GraphQLSessionFields } from './graphql-session-fields.js';
import { toGraphQLError } from './to-graphql-error.js';
import { requestSessionOf } from '../http/compat/request-session.binding.js';
import { BATCH_NOT_SAVED_MESSAGE, NOT_SAVED_CODE, REMOVAL_NOT_SAVED_MESSAGE } from '../../errors/session-error-catalog.js';

/** An error for an operation's answer (see `afterExecution`). */
export interface AnswerError {
  error: Error;
  /** True: the answer keeps its data and HTTP status; false: the session could not be saved (its status, no data). */
  keepData: boolean;
}

/** One GraphQL HTTP request (one operation, or a batch of them) as the session lifecycle runs it. */
interface RequestState {
  exchange: SessionExchange;
  /** Operations not yet answered: the session completes when the last one is. */
  remaining: number;
  /** An operation of the request answered with errors: its changes are discarded. */
  failed: boolean;
  /** A batch of several operations: its last answer says when another's error discarded its changes. */
  batch: boolean;
  /** The behavior decision and the acquisition, made once for the whole request. */
  acquired?: Promise<void>;
  /** Its answer was ended (written out): a lease acquired from now on is discarded at once. */
  answered?: boolean;
}

/**
 * The session lifecycle of GraphQL requests over HTTP, driven by the server's own request hooks
 * (an Apollo Server plugin, Mercurius hooks): one acquisition per HTTP request, before its first
 * resolver runs, with the behavior of the whole parsed request; one completion once every
 * operation of it is resolved, before the response is sent.
 */
@Injectable()
export class GraphQLSessionHooks {
  private readonly logger = new Logger('SessionState');
  private readonly requests = new WeakMap<object, RequestState>();

  constructor(
    private readonly lifecycle: SessionStateLifecycle,
    private readonly fields: GraphQLSessionFields,
  ) {}

  /** An operation was parsed and validated; it is about to execute. Throws (as a GraphQL error) when the session cannot be had. */
  async beforeExecution(
    context: GraphQLContextValue,
    schema: GraphQLSchemaLike,
    document: DocumentNode,
    operation: OperationNode | undefined,
  ): Promise<void> {
    const state = this.stateOf(context);
    if (!state) return;
    state.acquired ??= this.acquire(state, schema, document, operation);
    await state.acquired;
  }

  /**
   * An operation was resolved (or failed) and its answer is about to be sent. The last of the
   * request completes the session: saved when no operation has errors, else discarded. Returns the
   * error to add to the answer when the session could not be saved (`keepData`: the answer keeps its
   * data and status, the error says its session changes were not saved).
   */
  async afterExecution(context: GraphQLContextValue, hasErrors: boolean): Promise<AnswerError | undefined> {
    const state = this.stateOf(context);
    if (!state) return undefined;
    state.failed ||= hasErrors;
    if (--state.remaining > 0) return undefined;
    this.requests.delete(state.exchange.key);
    const lease = leaseOf(state.exchange.key);
    // The request holds no lock (no operation uses the session, or only to read), yet a resolver removed
    // something through `req.session` (a logout in a mutation not declared Required): not saved, which
    // an answer without errors must say (reviews R39, R41).
    const removedUnsaved =
      !hasErrors && lease?.behavior !== SessionStateBehavior.Required && requestSessionOf(state.exchange.key)?.removedWithoutLock;
    if (!lease) return removedUnsaved ? this.notSaved(REMOVAL_NOT_SAVED_MESSAGE) : undefined;
    // A resolver still runs (an outer interceptor gave up on it, so this answer has errors): the
    // answer goes out now; the session is completed (discarded) once the resolver settles.
    if (lease.running) {
      this.lifecycle.discard(lease, state.exchange);
      return undefined;
    }
    // The batch's last answer, itself without errors, would read as saved while another operation's
    // error discards the session changes of the whole batch: it says so (the earlier answers are
    // already serialised by the server; review R36).
    const discardedByAnother = state.batch && state.failed && !hasErrors && this.lifecycle.wouldWrite(lease, state.exchange);
    try {
      await this.lifecycle.complete(lease, state.exchange, state.failed ? 'failed' : 'succeeded');
    } catch (error) {
      return { error: await this.graphqlError(error, state.exchange), keepData: false };
    }
    if (removedUnsaved) return this.notSaved(REMOVAL_NOT_SAVED_MESSAGE);
    return discardedByAnother ? this.notSaved(BATCH_NOT_SAVED_MESSAGE) : undefined;
  }

  /** An answer whose data stays, beside an error saying its session changes were not saved. */
  private async notSaved(message: string): Promise<AnswerError> {
    const { GraphQLError } = await import('graphql');
    return { error: new GraphQLError(message, { extensions: { code: NOT_SAVED_CODE } }), keepData: true };
  }

  private stateOf(context: GraphQLContextValue): RequestState | undefined {
    const key = graphqlKeyOf(context);
    if (!key) return undefined;
    const state = this.requests.get(key);
    if (state) return state;
    const exchange = graphqlExchange(context);
    if (!exchange) return undefined;
    const body = (key as { body?: unknown }).body;
    const remaining = Array.isArray(body) ? body.length : 1;
    const made: RequestState = { exchange, remaining, failed: false, batch: remaining > 1 };
    this.requests.set(key, made);
    // Whatever happens in between (an operation of a batch that never reached execution), the
    // session is never held past the answer: discarded (not saved) if it is still open then, or
    // when an acquisition still under way lands (see `acquire`).
    exchange.onAnswered(() => {
      made.answered = true;
      this.discardOpen(made);
    });
    return made;
  }

  private discardOpen(state: RequestState): void {
    const lease = leaseOf(state.exchange.key);
    if (lease && !lease.completion) this.lifecycle.discard(lease, state.exchange);
  }

  private async acquire(state: RequestState, schema: GraphQLSchemaLike, document: DocumentNode, operation: OperationNode | undefined): Promise<void> {
    const fields = await this.fields.get();
    let behavior: ResolvedBehavior = operation ? operationBehavior(schema, document, operation, fields) : SessionStateBehavior.Disabled;
    const body = (state.exchange.key as { body?: unknown }).body;
    // A batch: the session is acquired once, with the behavior its strongest operation needs.
    if (Array.isArray(body) && body.length > 1 && behavior !== SessionStateBehavior.Required && fields.size > 0) {
      const { parse } = await import('graphql');
      for (const piece of body as { query?: unknown; operationName?: string }[]) {
        if (typeof piece?.query !== 'string') continue;
        try {
          const doc = parse(piece.query) as unknown as DocumentNode;
          const op = selectOperation(doc, piece.operationName);
          if (op) behavior = strongest(behavior, operationBehavior(schema, doc, op, fields));
        } catch {
          // A piece that does not parse fails on its own; it uses no session.
        }
      }
    }
    if (behavior === SessionStateBehavior.Disabled) {
      // Under mountSessionState, `req.session` now knows its route: one that holds no lock.
      requestSessionOf(state.exchange.key)?.routedWithoutSession();
      return;
    }
    let lease: SessionLease;
    try {
      lease = await this.lifecycle.acquire(state.exchange, behavior, 'interceptor');
    } catch (error) {
      throw await this.graphqlError(error, state.exchange);
    }
    // Under mountSessionState, a login in a mutation (passport's `req.login`) sets the session's owner, as on a route.
    if (lease.behavior === SessionStateBehavior.Required) requestSessionOf(state.exchange.key)?.lockedByGraphQL(lease);
    // Answered while it waited (review R36: Apollo answers a batch with a malformed entry 400 at once,
    // while another entry's acquisition runs): nothing would complete this lease; it held the lock until stale.
    if (state.answered) this.discardOpen(state);
  }

  /** A module error as a GraphQL error (see the error catalog); a 500 is logged, redacted. */
  private graphqlError(error: unknown, exchange: SessionExchange): Promise<Error> {
    return toGraphQLError(error, exchange, (failure) => {
      const session = leaseOf(exchange.key)?.session;
      const secrets = [session?.id, session?.previousId].filter((id) => id !== undefined);
      this.logger.error(`Session state of a GraphQL request failed: ${loggableMessage(failure, secrets)}`);
    });
  }
}
