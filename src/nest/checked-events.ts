import type { Observer } from 'rxjs';

/**
 * An observer whose events each go out only after `check` resolved, started after the event came
 * (an `@Sse()` stream of a session that may be signed out meanwhile), in the order they came. Events
 * that arrive while a check runs wait for the next one, which covers them all: one check per batch,
 * not per event. If a check rejects, the stream ends with the client's error (`toClientError`),
 * nothing after it; the handler's own end (complete, error) comes after the events before it.
 */
export function checkedEvents<T>(observer: Observer<T>, check: () => Promise<void>, toClientError: (error: unknown) => unknown): Observer<T> {
  let pending: T[] = [];
  let checking = false;
  let ended = false;
  /** The handler's end, kept while events before it wait for their check. */
  let end: (() => void) | undefined;
  const finish = (settle: () => void) => {
    if (ended) return;
    ended = true;
    settle();
  };
  const drain = async (): Promise<void> => {
    checking = true;
    while (pending.length > 0 && !ended) {
      const batch = pending;
      pending = [];
      try {
        await check();
      } catch (error) {
        return finish(() => observer.error(toClientError(error)));
      }
      for (const value of batch) if (!ended) observer.next(value);
    }
    checking = false;
    if (end) finish(end);
  };
  return {
    next: (value) => {
      if (ended) return;
      pending.push(value);
      // A throw downstream (a bug) ends the stream with it: never an unhandled rejection.
      if (!checking) drain().catch((error: unknown) => finish(() => observer.error(error)));
    },
    error: (error: unknown) => {
      if (checking) end ??= () => observer.error(error);
      else finish(() => observer.error(error));
    },
    complete: () => {
      if (checking) end ??= () => observer.complete();
      else finish(() => observer.complete());
    },
  };
}
