import { EMPTY, isObservable, Observable } from 'rxjs';
import { SessionStateError } from '../../errors/session-state.errors.js';
import { completeOnSettle } from '../../nest/complete-on-settle.js';
import { toTransportException } from '../session-transports.js';
import { HttpSessionState } from '../../session/http-session-state.js';
import type { SessionLease } from '../../core/session-lease.js';
import type { ActiveBehavior } from '../../core/session-state-behavior.enum.js';
import type { RequestOutcome, SessionStateLifecycle } from '../../core/session-state.lifecycle.js';
import { HttpExchange } from './http-exchange.js';

/**
 * The session lifecycle of an HTTP route without interceptors, run by the route's handler itself.
 *
 * A route with any interceptor pays Nest's interceptor pipeline and its watch of the client on
 * every request (about a tenth of a small route's CPU time, measured); so a controller route whose
 * only interceptor would be the session's, in an application without global interceptors, runs its
 * session in its handler (see `bindSessionHandlerRoutes`): the handler was wrapped, once, at
 * startup; `SessionStateGuard` marks the request with the module's lifecycle; `@Session()` hands the
 * wrapper a placeholder; and the wrapper, called once the route's pipes are done, loads the session
 * (waiting for its lock), puts it in place of the placeholder, runs the handler, and completes the
 * session (save / release / remove) once the handler has settled, before Nest sends the answer.
 *
 * No interceptor runs around such a handler, so nothing but the handler itself can answer before it
 * settles; a client that leaves stops the wait for the lock (see `SessionStateLifecycle.acquire`),
 * and a handler whose client left still completes its session, as with the interceptor.
 */

/** Where `SessionStateGuard` leaves the request's placeholder. */
const DEFERRED_SESSION = Symbol('nestjs-session-state:deferred-session');
const REPLACED_PLACEHOLDER =
  "@Session(): the handler was given neither its session nor the module's placeholder for it (the route loads its session " +
  'after its pipes run). A global pipe replaced it: have pipes leave custom parameters as they are, or at least those ' +
  'declared as Object (ValidationPipe skips them; @Session() declares its parameter so). Or a test called the handler with a stand-in: ' +
  'use createTestSession() from nestjs-session-state/testing.';
/** Marks a wrapped handler (the original is its value). */
const WRAPPED = Symbol('nestjs-session-state:wrapped-handler');

/** What `@Session()` gives a wrapped handler: how to load the session the wrapper puts in its place. */
class DeferredSession {
  constructor(
    readonly lifecycle: SessionStateLifecycle,
    readonly behavior: ActiveBehavior,
    readonly exchange: HttpExchange,
  ) {}
}

/** Called by `SessionStateGuard`: the handler of `request` loads its session itself. */
export function deferSession(request: object, response: object, lifecycle: SessionStateLifecycle, behavior: ActiveBehavior): void {
  (request as { [DEFERRED_SESSION]?: DeferredSession })[DEFERRED_SESSION] = new DeferredSession(lifecycle, behavior, new HttpExchange(request, response));
}

/** For `@Session()`: the placeholder of a request whose route's handler loads the session itself. */
export function deferredSessionOf(request: object): DeferredSession | undefined {
  return (request as { [DEFERRED_SESSION]?: DeferredSession })[DEFERRED_SESSION];
}

export function isWrappedHandler(handler: Function): boolean {
  return (handler as { [WRAPPED]?: Function })[WRAPPED] !== undefined;
}

/**
 * `handler` wrapped to run the session lifecycle around it; `sessionIndexes`: its `@Session()`
 * arguments. The wrapper carries the handler's metadata (route, guards, pipes, filters…), since
 * Nest and other libraries read it from the function.
 */
export function wrapSessionHandler(handler: Function, sessionIndexes: readonly number[]): Function {
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    const deferred = args[sessionIndexes[0]!];
    if (!(deferred instanceof DeferredSession)) {
      // Not marked by the session's guard (the interceptor runs this route's session), or a global
      // pipe replaced the placeholder: never run the handler without its session's lock.
      if (deferred !== undefined && !(deferred instanceof HttpSessionState)) throw new SessionStateError(REPLACED_PLACEHOLDER);
      return handler.apply(this, args);
    }
    return runWithSession(deferred, (session) => {
      for (const index of sessionIndexes) args[index] = session;
      return handler.apply(this, args);
    });
  };
  for (const key of Reflect.getOwnMetadataKeys(handler)) Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, handler), wrapped);
  Object.defineProperty(wrapped, 'name', { value: handler.name });
  Object.defineProperty(wrapped, WRAPPED, { value: handler });
  return wrapped;
}

async function runWithSession({ lifecycle, behavior, exchange }: DeferredSession, call: (session: HttpSessionState) => unknown): Promise<unknown> {
  let lease: SessionLease;
  try {
    lease = await lifecycle.acquire(exchange, behavior, 'interceptor');
  } catch (error) {
    throw toTransportException(error, exchange);
  }
  return runHandler(lifecycle, exchange, lease, () => call(lease.session));
}

function runHandler(lifecycle: SessionStateLifecycle, exchange: HttpExchange, lease: SessionLease, call: () => unknown): unknown {
  const complete = (outcome: RequestOutcome) => lifecycle.complete(lease, exchange, outcome);
  const failed = (error: unknown) =>
    complete(lifecycle.outcomeOfError(error)).then(
      () => Promise.reject(error),
      () => Promise.reject(error), // the handler's error is the one worth reporting; the store's was logged
    );
  const succeeded = (value: unknown) =>
    isObservable(value)
      ? completeWhenSettled(lifecycle, exchange, lease, value)
      : complete('succeeded').then(
          () => value,
          (error: unknown) => Promise.reject(toTransportException(error, exchange)),
        );
  let result: unknown;
  try {
    result = call();
  } catch (error) {
    return failed(error);
  }
  if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') return (result as PromiseLike<unknown>).then(succeeded, failed);
  return succeeded(result);
}

/** A handler's Observable: the session is completed when it settles (see `completeOnSettle`). */
function completeWhenSettled(lifecycle: SessionStateLifecycle, exchange: HttpExchange, lease: SessionLease, source: Observable<unknown>): Observable<unknown> {
  // Nest does not subscribe to a handler's Observable once the client is gone: nothing would complete the session.
  if (exchange.clientGone()) {
    lifecycle.discard(lease, exchange);
    return EMPTY;
  }
  return new Observable((subscriber) => completeOnSettle(lifecycle, lease, exchange, subscriber, (observer) => source.subscribe(observer)));
}
