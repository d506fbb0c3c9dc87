import { InMemorySessionStateStore, type SessionStateStore } from 'nestjs-session-state';
import { countingStore } from '../../../test/support/counting-store.js';

export type StoreMethod =
  | 'getItem'
  | 'getItemExclusive'
  | 'setAndReleaseItemExclusive'
  | 'releaseItemExclusive'
  | 'removeItem'
  | 'resetItemTimeout'
  | 'createUninitializedItem';

export interface CountingStore {
  /** The proxy to hand to the module: it behaves as `inner` and records every store round trip. */
  readonly store: SessionStateStore;
  readonly inner: SessionStateStore;
  /** Calls, in the order they were made, since the last `reset()`. */
  readonly calls: readonly StoreMethod[];
  /** Calls per method since the last `reset()` (methods not called are absent). */
  counts(): Partial<Record<StoreMethod, number>>;
  reset(): void;
  /** Resolves once the next call of `method` has answered. */
  settled(method: StoreMethod): Promise<void>;
}

/** The sample app's store (an `InMemorySessionStateStore` unless given another), behind the library tests' counting proxy. */
export function createCountingStore(inner: SessionStateStore = new InMemorySessionStateStore()): CountingStore {
  const { store, counter } = countingStore(inner);
  return {
    store,
    inner,
    calls: counter.sequence as StoreMethod[],
    counts: () => ({ ...counter.calls }),
    reset: () => counter.reset(),
    settled: (method) => counter.next(method).then(() => undefined),
  };
}
