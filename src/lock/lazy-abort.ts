/**
 * An abort whose `AbortSignal` is made only when a lock wait asks for one, and whose sources (the
 * client's connection, the caller's cancellation) are watched only from then on. Almost every
 * request gets its lock at once: for them an `AbortController` per request, its listeners, and the
 * `DOMException` that `abort()` builds were most of the session layer's own cost. An abort only
 * ever stops a wait (the coordinator reads it nowhere else), so watching from the wait's start
 * changes nothing a request can see.
 */
export class LazyAbort {
  #controller: AbortController | undefined;
  #aborted = false;
  #stopWatching: (() => void) | undefined;

  /** `watch(abort)` starts watching the sources when a signal is first needed, and answers how to stop. */
  constructor(private readonly watch?: (abort: () => void) => () => void) {}

  /** The signal of a wait: made on first use (aborted already if `abort()` came first). */
  get signal(): AbortSignal {
    if (!this.#controller) {
      const controller = (this.#controller = new AbortController());
      if (this.#aborted) controller.abort();
      else if (this.watch) this.#stopWatching = this.watch(() => this.abort());
    }
    return this.#controller.signal;
  }

  /** Whether a source aborted while it was watched (a wait began and the client left or the caller cancelled before `dispose`). */
  get aborted(): boolean {
    return this.#aborted;
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#controller?.abort();
  }

  /** Stops watching the sources (the wait is over). */
  dispose(): void {
    this.#stopWatching?.();
    this.#stopWatching = undefined;
  }
}

/** What stops a lock wait: a signal, or a lazy abort that makes one only if the request waits. */
export type WaitSignal = AbortSignal | LazyAbort;

export function signalOf(signal: WaitSignal): AbortSignal {
  return signal instanceof LazyAbort ? signal.signal : signal;
}

/** Calls `listener` when `signal` aborts (at once if it has); answers how to stop listening. */
export function onAbort(signal: WaitSignal | undefined, listener: () => void): () => void {
  if (!signal) return () => {};
  const real = signalOf(signal);
  if (real.aborted) {
    listener();
    return () => {};
  }
  real.addEventListener('abort', listener, { once: true });
  return () => real.removeEventListener('abort', listener);
}
