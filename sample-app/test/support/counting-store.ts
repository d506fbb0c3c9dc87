import { InMemorySessionStateStore, type SessionStateStore } from 'nestjs-session-state';

/** The methods of the store contract (`SessionStateStore`); only these are counted. */
export const STORE_METHODS = [
  'getItem',
  'getItemExclusive',
  'setAndReleaseItemExclusive',
  'releaseItemExclusive',
  'removeItem',
  'resetItemTimeout',
  'createUninitializedItem',
  'createNewStoreData',
  'setItemExpireCallback',
] as const;
export type StoreMethod = (typeof STORE_METHODS)[number];

export interface CountingStore {
  /** The proxy to hand to the module: it behaves as `inner` and records every contract call. */
  readonly store: SessionStateStore;
  readonly inner: InMemorySessionStateStore;
  /** Contract calls, in the order they were made, since the last `reset()`. */
  readonly calls: StoreMethod[];
  /** Calls per method since the last `reset()` (methods not called are absent). */
  counts(): Partial<Record<StoreMethod, number>>;
  reset(): void;
  /** Resolves once the next call of `method` has settled (resolved or rejected). */
  settled(method: StoreMethod): Promise<void>;
}

/** A Proxy around an `InMemorySessionStateStore` that counts the store-contract calls per method. */
export function createCountingStore(inner = new InMemorySessionStateStore()): CountingStore {
  const calls: StoreMethod[] = [];
  const waiters = new Map<StoreMethod, Array<() => void>>();
  const isStoreMethod = (name: PropertyKey): name is StoreMethod =>
    typeof name === 'string' && (STORE_METHODS as readonly string[]).includes(name);

  const notify = (method: StoreMethod) => {
    const pending = waiters.get(method) ?? [];
    waiters.delete(method);
    for (const resolve of pending) resolve();
  };

  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (!isStoreMethod(property)) return (value as Function).bind(target);
      return (...args: unknown[]) => {
        calls.push(property);
        const result: unknown = (value as Function).apply(target, args);
        if (result instanceof Promise) {
          return result.finally(() => notify(property));
        }
        notify(property);
        return result;
      };
    },
  });

  return {
    store,
    inner,
    calls,
    counts() {
      const counts: Partial<Record<StoreMethod, number>> = {};
      for (const method of calls) counts[method] = (counts[method] ?? 0) + 1;
      return counts;
    },
    reset() {
      calls.length = 0;
    },
    settled(method) {
      return new Promise<void>((resolve) => {
        const list = waiters.get(method) ?? [];
        list.push(resolve);
        waiters.set(method, list);
      });
    },
  };
}
