import type { SessionStateStore } from '../../src/store/session-state-store.js';

export interface StoreCallCounter {
  /** Calls per method name since the last reset. */
  readonly calls: Record<string, number>;
  /** The same calls, by name, in the order they were made. */
  readonly sequence: string[];
  total(): number;
  /** Calls made and not yet answered (never reset). */
  inFlight(): number;
  reset(): void;
  /** Resolves the next time `method` answers and `predicate` holds for its answer. */
  next(method: string, predicate?: (answer: unknown) => boolean): Promise<unknown>;
}

const IO_METHODS = new Set([
  'getItem',
  'probeLock',
  'getItemExclusive',
  'setAndReleaseItemExclusive',
  'setItemExclusive',
  'handOverItemExclusive',
  'releaseItemExclusive',
  'removeItem',
  'resetItemTimeout',
  'createUninitializedItem',
]);

/** Wraps a store so that tests can count its round trips and wait on its answers. */
export function countingStore<T extends SessionStateStore>(store: T): { store: T; counter: StoreCallCounter } {
  const calls: Record<string, number> = {};
  const sequence: string[] = [];
  const watchers: { method: string; predicate: (answer: unknown) => boolean; resolve: (a: unknown) => void }[] = [];
  let inFlight = 0;
  const counter: StoreCallCounter = {
    calls,
    sequence,
    total: () => Object.values(calls).reduce((a, b) => a + b, 0),
    inFlight: () => inFlight,
    reset: () => {
      Object.keys(calls).forEach((k) => delete calls[k]);
      sequence.length = 0;
    },
    next: (method, predicate = () => true) => new Promise((resolve) => watchers.push({ method, predicate, resolve })),
  };
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !IO_METHODS.has(property) || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        calls[property] = (calls[property] ?? 0) + 1;
        sequence.push(property);
        let answer: unknown;
        inFlight++;
        try {
          answer = await value.apply(target, args);
        } finally {
          inFlight--;
        }
        for (const watcher of Array.from(watchers)) {
          if (watcher.method === property && watcher.predicate(answer)) {
            watchers.splice(watchers.indexOf(watcher), 1);
            watcher.resolve(answer);
          }
        }
        return answer;
      };
    },
  });
  return { store: proxy, counter };
}
