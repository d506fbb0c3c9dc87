import type { SessionLease } from './session-lease.js';

/**
 * One unit of work of a transport, as the session lifecycle sees it: an HTTP request, a GraphQL
 * HTTP request (however many resolvers it runs), a WebSocket message. Each transport folder
 * (`http/`, …) turns its execution context into one; the lifecycle knows nothing else of it.
 */
export interface SessionExchange {
  /** Identity of the unit of work: one acquisition (one load, one lock) per key. */
  readonly key: object;
  /** The transport's name, for messages (`http`, `graphql`, `ws`). */
  readonly transport: string;
  /** The raw `Cookie` header that names the session, if any. */
  cookieHeader(): string | undefined;
  /** A request header's value by its lower-case name (the opt-in id header); absent where there are no request headers. */
  requestHeader?(name: string): string | undefined;
  /**
   * The client's user agent and address, for `recordClient` (read only when a session is created or
   * its id regenerated). Absent on a transport that cannot tell.
   */
  clientInfo?(): { readonly userAgent?: string; readonly address?: string };
  /** Whether the exchange came over HTTPS (for `secure: 'auto'` cookies). */
  isHttps(): boolean;
  /** False once a Set-Cookie can no longer reach the client (response sent; a WebSocket message). */
  canSetCookie(): boolean;
  /** The request target (its URL as received, query included), checked against `cookie.path`; absent where no cookie can be set. */
  requestTarget?(): string | undefined;
  appendSetCookie(value: string): void;
  setHeader(name: string, value: string): void;
  /**
   * Calls `listener` once when the exchange's connection closes (at once if it has), saying whether
   * its answer went out in full. Absent where there is no such connection.
   */
  onClosed?(listener: (answered: boolean) => void): void;
  /** Calls `listener` once if the client goes away before the exchange is answered; returns a remover. */
  onClientGone(listener: () => void): () => void;
  /**
   * Calls `listener` once when the exchange's answer is being sent. Used for a session loaded by a
   * guard that no interceptor took over: once the answer goes out, the handler can no longer run.
   */
  onAnswered(listener: () => void): void;
  /** The message of a write to a read-only session of this exchange, when the reason is the transport (an SSE stream, a subscription). */
  readonly readOnlyReason?: string;
  /**
   * Set when the exchange cannot start a session (it cannot set a cookie: a WebSocket message): a
   * session it does not already have is given empty and read-only, and a write throws this message.
   */
  readonly cannotStartSession?: string;
  /**
   * Set when a session the exchange names but that no longer exists (ended since the connection
   * opened) must refuse the exchange (`SessionStateEndedError`) rather than give it an empty
   * session: a WebSocket message, whose connection cannot get a new cookie.
   */
  readonly refusesEndedSession?: boolean;
  /**
   * Set when a refusal because the session moved or ended while the exchange waited
   * (`SessionStateEndedWhileWaitingError`) is not the request's answer yet: the mount's read, whose
   * refusal is left for whatever uses the session later (`SessionStateLifecycle.refuseLater`), and
   * counted in the metrics only then (a route that does not use the session answers as usual).
   */
  readonly defersRefusal?: boolean;
  /** Runs the handler so that `@Session()` finds the lease, when the exchange's key cannot carry it (a WebSocket message). */
  runHandler?<T>(lease: SessionLease, run: () => T): T;
  /**
   * Holds the answer a handler sends itself until the session is completed, when the exchange can (an
   * HTTP response). `sentByNest`: the held answer is Nest's own, sent after the handler settled (a
   * guard-bound route's): the response need not read as sent meanwhile (which costs), and its first
   * output completes the session (a streamed answer then flows, with backpressure, once it is saved).
   */
  holdAnswer?(options?: { sentByNest?: boolean }): HeldAnswer;
}

/**
 * The answer of a handler that sends it itself (`@Res()`), held until its session is completed
 * (see `transports/http/held-answer.ts`).
 */
export interface HeldAnswer {
  /** Calls `listener` once, when the handler has ended its answer (which is held until then). */
  onSending(listener: () => void): void;
  /**
   * Sends the held answer once `completion` succeeded; if it failed, the client gets the error
   * instead. With `handlerError`: the handler threw; an answer it began but never ended is replaced
   * by that error.
   */
  release(completion: Promise<void>, toClientError: (error: unknown) => unknown, handlerError?: { error: unknown }): void;
  /** Nobody completes the session for this answer any more (its subscriber left): send what is held. */
  abandon(): void;
  /** Stops holding, when nothing was held yet: the interceptor took the session over and completes it before the answer. */
  letGo(): void;
  /** The status the answer goes out with (a guard-bound route's session is saved or discarded by it). */
  status(): number;
}
