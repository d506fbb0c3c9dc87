import type { Observer, Subscriber, Unsubscribable } from 'rxjs';
import type { SessionLease } from '../session-lease.js';
import type { SessionStateLifecycle } from '../session-state.lifecycle.js';
import { toTransportException } from './session-context.js';
import type { SessionExchange } from './session-exchange.js';

/**
 * Passes a handler's values on as they come and completes its lease once the handler settles,
 * before its completion or error reaches `subscriber` (the answer follows the save; an error
 * releases the lock before it reaches the exception filters). Answers the teardown of an early
 * unsubscription: a handler holding the lock keeps it until it settles (a promise cannot be
 * stopped, and the next request must not run beside it), its changes discarded, at the latest
 * until the lock is stale. Used by the session interceptor and by a handler that runs its session.
 */
export function completeOnSettle(
  lifecycle: SessionStateLifecycle,
  lease: SessionLease,
  exchange: SessionExchange,
  subscriber: Subscriber<unknown>,
  subscribe: (observer: Observer<unknown>) => Unsubscribable,
  { held = lease.lockId !== null, handlerError = (error: unknown) => error } = {},
): () => void {
  const release = held ? lifecycle.hold(lease) : () => {};
  let settled = false;
  const settle = () => ((settled = true), release());
  const subscription = subscribe({
    next: (value) => subscriber.next(value),
    error: (error: unknown) => {
      settle();
      // The handler's error is the one worth reporting; a release failure was logged. Its changes
      // are discarded unless the app's saveOnError policy says this error is a handled answer.
      const report = () => subscriber.error(handlerError(error));
      lifecycle.complete(lease, exchange, lifecycle.outcomeOfError(error)).then(report, report);
    },
    complete: () => {
      settle();
      lifecycle.complete(lease, exchange, 'succeeded').then(
        () => subscriber.complete(),
        (error: unknown) => subscriber.error(toTransportException(error, exchange)),
      );
    },
  });
  return () => {
    if (settled) return;
    if (!held) subscription.unsubscribe();
    lifecycle.discard(lease, exchange);
  };
}
