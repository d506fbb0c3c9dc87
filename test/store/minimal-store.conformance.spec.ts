/**
 * STORES.md: a custom store must write six methods (getItem, getItemExclusive, setAndReleaseItemExclusive,
 * releaseItemExclusive, removeItem, resetItemTimeout); the rest have defaults it may keep. Such a store
 * (here: the six, delegated to the in-memory store, without markers) passes the conformance suite: the
 * cases of the optional revokeOwner run only when the store overrides it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InMemorySessionStateStore,
  SessionStateError,
  SessionStateStore,
  type RemoveItemOptions,
  type SessionStateStoreData,
} from 'nestjs-session-state';
import { describeSessionStateStoreConformance } from 'nestjs-session-state/testing';

class MinimalStore extends SessionStateStore {
  private readonly inner: InMemorySessionStateStore;
  constructor(options: { clock?: () => number } = {}) {
    super();
    this.inner = new InMemorySessionStateStore(options.clock ? { clock: options.clock } : {});
  }
  getItem(id: string) {
    return this.inner.getItem(id);
  }
  getItemExclusive(id: string) {
    return this.inner.getItemExclusive(id);
  }
  setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean) {
    return this.inner.setAndReleaseItemExclusive(id, item, lockId, newItem);
  }
  releaseItemExclusive(id: string, lockId: string) {
    return this.inner.releaseItemExclusive(id, lockId);
  }
  removeItem(id: string, lockId: string, options?: RemoveItemOptions) {
    // No markers: a plain removal.
    return this.inner.removeItem(id, lockId, options?.moved ? { ...options, moved: false } : options);
  }
  resetItemTimeout(id: string) {
    return this.inner.resetItemTimeout(id);
  }
  close() {
    this.inner.close();
  }
}

describeSessionStateStoreConformance(
  'MinimalStore (the six required methods only)',
  {
    create: (clock) => new MinimalStore({ clock }),
    destroy: (store) => (store as MinimalStore).close(),
  },
  { describe, it, expect, beforeEach, afterEach },
);

describe('the default revokeOwner of a store without one', () => {
  it('refuses with a SessionStateError naming the built-in stores that have it', async () => {
    const store = new MinimalStore();
    try {
      const refusal = store.revokeOwner('ann');
      await expect(refusal).rejects.toThrow(SessionStateError);
      await expect(refusal).rejects.toThrow(/MinimalStore does not implement revokeOwner/);
      await expect(refusal).rejects.toThrow(/InMemorySessionStateStore, DynamoDBSessionStateStore or RedisSessionStateStore/);
    } finally {
      store.close();
    }
  });
});
