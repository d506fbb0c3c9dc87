import type { Observer, Subscriber, Unsubscribable } from 'rxjs';
import type { SessionLease } from '../core/session-lease.js';
import type { SessionStateLifecycle } from '../core/session-state.lifecycle.js';
import { toTransportException } from '../transports/session-transports.js';
import type { HeldAnswer, SessionExchange } from '../core/session-exchange.js';

/**
 * Passes a handler's values on as they come and completes its lease once the handler settles,
 * before its completion or error reaches `subscriber` (the answer follows the save; an error
 * releases the lock before it reaches the exception filters). Answers the teardown of an early
 * unsubscription: a handler holding the lock keeps it until it settles (a promise cannot be
 * stopped, and the next request must not run beside it), its changes discarded, at the latest
 * until the lock is stale. Used by the session interceptor.
 *
 * `valuesAfterSave` (a transport that sends each value as it comes: a WebSocket message): while the
 * lease holds the lock, the values are kept until the completion resolved, then passed on; a failed
 * completion, or a handler error whose changes are discarded, drops them, so the client gets its error
 * alone, never an answer for unsaved changes.
 */
export function completeOnSettle(
  lifecycle: SessionStateLifecycle,
  lease: SessionLease,
  exchange: SessionExchange,
  subscriber: Subscriber<unknown>,
  subscribe: (observer: Observer<unknown>) => Unsubscribable,
  {
    held = lease.lockId !== null,
    handlerError = (error: unknown) => error,
    answer,
    answersAlone = false,
    valuesAfterSave = false,
  }: {
    held?: boolean;
    handlerError?: (error: unknown) => unknown;
    answer?: HeldAnswer;
    /** The handler sends `answer` alone (`@Res()` without passthrough, `@Next()`): Nest sends nothing after it. */
    answersAlone?: boolean;
    valuesAfterSave?: boolean;
  } = {},
): () => void {
  const release = held ? lifecycle.hold(lease) : () => {};
  let settled = false;
  const settle = () => ((settled = true), release());
  const toClientError = (error: unknown) => toTransportException(error, exchange);
  // A handler that sends its answer itself has answered once it ends it: its session is completed
  // then (the answer waits for it), even if the handler goes on (awaiting the answer's 'finish',
  // say); what it changes in the session after that is not saved, as with express-session.
  let answered: (() => void) | undefined;
  let sending = false;
  answer?.onSending(() => {
    sending = true;
    settle();
    // A handler that answers alone says how it ended by its answer's status (`next(err)` from a callback
    // becomes the exception filter's 500): an error answer discards, as a guard-bound route's does (review R28).
    const outcome = answersAlone ? lifecycle.outcomeOfAnswer(answer.status()) : 'succeeded';
    answer.release(lifecycle.complete(lease, exchange, outcome), toClientError);
    answered?.();
  });
  // Read only by the teardown, which cannot run before this returns (a source that errs during
  // `subscribe` settles, and is unsubscribed by the teardown like any other).
  const kept: unknown[] | undefined = held && valuesAfterSave ? [] : undefined;
  const passKept = () => {
    if (kept) for (const value of kept.splice(0)) subscriber.next(value);
  };
  const subscription = subscribe({
    next: (value) => (kept ? kept.push(value) : subscriber.next(value)),
    error: (error: unknown) => {
      settle();
      // The handler's error is the one worth reporting; a release failure was logged. Its changes
      // are discarded unless the app's saveOnError policy says this error is a handled answer.
      const report = () => subscriber.error(handlerError(error));
      const holding = answer ?? heldLoginAnswer(held, lease, exchange);
      const outcome = lifecycle.outcomeOfError(error);
      const completion = lifecycle.complete(lease, exchange, outcome);
      holding?.release(completion, toClientError, { error: handlerError(error) });
      // Values kept for after the save go out only if the error's changes were saved (saveOnError):
      // else the client gets the error alone, as an HTTP client would (review R18).
      completion.then(() => (outcome === 'succeeded' && passKept(), report()), report);
    },
    complete: () => {
      settle();
      // A `@Res()` handler that called `req.session` and returned before answering (passport's
      // `req.login(user, cb)`, the redirect sent from the callback, maybe after an async serializer)
      // answers from a callback: completing now would race it (reviews R24, R28). Its session is
      // completed when the answer ends, at the latest when its lock turns stale. A `@Res()` handler
      // that never called `req.session` completes at once: a streaming one must not hold the lock.
      if (answersAlone && !sending && lease.calledSession === true) {
        const stale = setTimeout(() => answered?.(), lifecycle.msUntilStale(lease)).unref();
        answered = () => (
          (answered = undefined),
          clearTimeout(stale),
          completeSettled(lifecycle, lease, exchange, subscriber, answer, held, passKept, toClientError)
        );
        return;
      }
      completeSettled(lifecycle, lease, exchange, subscriber, answer, held, passKept, toClientError);
    },
  });
  return () => {
    // Settled: the handler's source ended by itself (then this is a no-op), or the stream was ended
    // for it (an @Sse() stream whose session ended, see checked-events.ts): let go of it, its
    // listeners and timers.
    if (settled) return subscription.unsubscribe();
    answer?.abandon();
    if (!held) subscription.unsubscribe();
    lifecycle.discard(lease, exchange);
  };
}

/** The handler settled with no error: its session completed, its answer (if held) released after it. */
function completeSettled(
  lifecycle: SessionStateLifecycle,
  lease: SessionLease,
  exchange: SessionExchange,
  subscriber: Subscriber<unknown>,
  answer: HeldAnswer | undefined,
  held: boolean,
  passKept: () => void,
  toClientError: (error: unknown) => unknown,
): void {
  const holding = answer ?? heldLoginAnswer(held, lease, exchange);
  const completion = lifecycle.complete(lease, exchange, 'succeeded');
  holding?.release(completion, toClientError);
  completion.then(
    () => (passKept(), subscriber.complete()),
    (error: unknown) => subscriber.error(toClientError(error)),
  );
}

/**
 * A request that moved its session to a new id (`regenerateId()`: a login, passport's logout) and whose
 * answer an outer interceptor sends before its completion ends (a `timeout()`'s 408) must still carry the
 * new cookie: the completion removes the old id, the client's only other cookie. So its answer is held
 * until the completion ended (only such requests pay). Not one already sent (through `req.res`): the
 * completion must see that no cookie can join it.
 */
function heldLoginAnswer(held: boolean, lease: SessionLease, exchange: SessionExchange): HeldAnswer | undefined {
  return held && lease.session.previousId !== undefined && exchange.canSetCookie() ? exchange.holdAnswer?.() : undefined;
}
