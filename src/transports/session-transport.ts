import type { ExecutionContext } from '@nestjs/common';
import type { SessionExchange } from '../core/session-exchange.js';
import type { SessionLease } from '../core/session-lease.js';

/**
 * One transport as the Nest-facing layer (interceptor, accessor, `@Session()`, behaviour resolver,
 * startup declarations) asks about it. Each transport folder exports one; `session-transports.ts`
 * registers them. The core never sees a transport, only the exchange it makes.
 */
export interface SessionTransport {
  /** The `ExecutionContext.getType()` it serves. */
  readonly contextType: string;
  /**
   * How the session interceptor runs a handler of it:
   * - `request`: acquire → handler → complete around the handler (an HTTP request, a WebSocket message);
   * - `stream`: a read-only snapshot taken when the handler starts, nothing held while it streams
   *   (`@Sse()`, a GraphQL subscription);
   * - `hosted`: the server's own hooks run the session once per request; a handler only holds the
   *   request's lock while it runs (GraphQL over HTTP).
   */
  readonly shape: 'request' | 'stream' | 'hosted';
  /** Among the transports of its context type, whether it serves this context (an `@Sse()` route among HTTP ones). Absent: all. */
  serves?(context: ExecutionContext): boolean;
  /** The context's session exchange; throws a `SessionStateUnsupportedContextError` that says why when it has none. */
  exchange(context: ExecutionContext): SessionExchange;
  /** The lease the context's handler holds, once acquired: what `@Session()` injects. */
  lease(context: ExecutionContext): SessionLease | undefined;
  /** A lease a guard acquired already (`SessionStateAccessor`), which the interceptor takes over. Absent: never one. */
  guardedLease?(context: ExecutionContext): SessionLease | undefined;
  /** Why `@Session()` finds no lease in a handler of this transport, and what to do. */
  readonly noSession: string;
  /**
   * What `SessionStateAccessor.get()` gives a guard: `snapshot`, a read-only session held by nothing
   * (a WebSocket message has no answer at which a refusing guard's lock could be released); `lease`,
   * the context's session, which the interceptor (or the server's hooks) completes.
   */
  readonly guardAccess: 'snapshot' | 'lease';
  /** Whether a session a guard loaded for a handler that uses none is completed by the transport (GraphQL's hooks); else the accessor completes it at once. */
  readonly completesUnusedSessions: boolean;
  /** A session error of acquisition or completion as the client receives it (by the error catalog, `errors/`). */
  clientError(error: unknown, exchange: SessionExchange): unknown;
  /**
   * Whether the platform sends each of a handler's values as it comes (Nest's socket.io and ws
   * adapters do; HTTP waits for the completion): then, while the handler holds the lock, its values
   * are kept until the session was saved, and dropped if that fails (see nest/complete-on-settle.ts).
   */
  readonly valuesAfterSave?: boolean;
  /**
   * Something the transport loads on first use before it can render a client's error (`WsException`,
   * a dynamic import, so that an app without gateways never loads @nestjs/websockets): a promise while
   * it loads, then undefined. The interceptor and the accessor wait for it. Absent: nothing to wait for.
   */
  ready?(): Promise<void> | undefined;
  /** The handler's own error as the client receives it. Absent: unchanged, to the application's exception filters. */
  readonly handlerError?: (error: unknown) => unknown;
  /**
   * A stream that must end with its session (a GraphQL subscription): wraps the handler's result so
   * that each event first awaits `check` (which rejects once the session has ended, see
   * core/session-liveness.ts) and, if it rejects, ends the stream with the client's error.
   */
  endingWithSession?(result: unknown, check: () => Promise<void>): unknown;
  /**
   * A stream whose events each go out only while its session lives (an `@Sse()` stream): the handler's
   * values wait for `check`, and a rejection ends the stream with the client's error (Nest sends it as
   * an `error` event once the stream began, else as the error answer). See nest/checked-events.ts.
   */
  readonly checksEachEvent?: boolean;
  /**
   * A stream the module completes when shutdown begins (an `@Sse()` stream): nothing else ends it, and
   * the HTTP server's close waits for its connection. Its client sees the stream end (an EventSource
   * then reconnects, to another instance).
   */
  readonly endsAtShutdown?: boolean;
  /** The decorator that makes `handler` one of this transport's streams (`@Sse()`), if it does: such a handler reads a snapshot. */
  streamDecoratorOf?(handler: Function): string | undefined;
}
