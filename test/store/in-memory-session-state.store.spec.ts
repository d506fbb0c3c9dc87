import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { describeSessionStateStoreConformance } from 'nestjs-session-state/testing';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { SessionStateActions, SessionStateStore } from '../../src/store/session-state-store.js';
import { flat } from '../../src/testing/flat-store-answer.js';

// The shipped suite, as a custom store's author runs it (the runner's API given explicitly).
describeSessionStateStoreConformance(
  'InMemorySessionStateStore conformance',
  {
    create: (clock) => new InMemorySessionStateStore({ clock }),
    destroy: (store) => (store as InMemorySessionStateStore).close(),
    movedMarkers: true,
  },
  { describe, it, expect, beforeEach, afterEach },
);

/** A store that keeps the contract's default `handOverItemExclusive` (two calls), as a custom store would. */
class DefaultHandOverStore extends InMemorySessionStateStore {
  override handOverItemExclusive(...args: Parameters<SessionStateStore['handOverItemExclusive']>) {
    return SessionStateStore.prototype.handOverItemExclusive.apply(this, args);
  }
}

// The contract's default hand-over meets the same cases.
describeSessionStateStoreConformance(
  'the default handOverItemExclusive (an in-memory store without its own)',
  {
    create: (clock) => new DefaultHandOverStore({ clock }),
    destroy: (store) => (store as InMemorySessionStateStore).close(),
  },
  { describe, it, expect, beforeEach, afterEach },
);

const MINUTE = 60_000;

describe('InMemorySessionStateStore', () => {
  const stores: InMemorySessionStateStore[] = [];
  let time = Date.now();
  const clock = () => time;

  function createStore(sweepIntervalMs?: number) {
    const store = new InMemorySessionStateStore({ clock, sweepIntervalMs });
    stores.push(store);
    return store;
  }

  const newId = () => randomBytes(18).toString('base64url');

  afterEach(() => {
    for (const store of stores.splice(0)) store.close();
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('a mid-request save (setItemExclusive) keeps the age of the lock: it turns stale executionTimeout after it was taken, not after the save', async () => {
    const store = createStore();
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, null, true);
    const { lockId } = flat(await store.getItemExclusive(id));
    time += 30_000;
    await store.setItemExclusive(id, { items: '{"saved":1}', timeout: 20 }, lockId, false);
    time += 80_000;
    expect(flat(await store.getItem(id))).toMatchObject({ locked: true, lockAge: 110_000 });
  });

  it("a late write whose lock was broken, on a record that expired since, is refused as 'item_gone' (no live item), as the contract says", async () => {
    const store = createStore();
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 1 }, null, true);
    const { lockId } = flat(await store.getItemExclusive(id));
    expect(await store.releaseItemExclusive(id, lockId!)).toBe(true); // broken as stale by another request
    time += 2 * MINUTE;
    await expect(store.setAndReleaseItemExclusive(id, { items: '{"late":1}', timeout: 1 }, lockId, false)).rejects.toMatchObject({
      reason: 'item_gone',
    });
    await expect(store.removeItem(id, lockId!)).rejects.toMatchObject({ reason: 'item_gone' });
  });

  it('a record is gone at the very millisecond of its expiry, not one later', async () => {
    const store = createStore();
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{"a":1}', timeout: 1 }, null, true);
    time += MINUTE - 1;
    expect(flat(await store.getItem(id)).kind).toBe('loaded');
    time += 1;
    expect(flat(await store.getItem(id)).kind).toBe('absent');
    expect(flat(await store.getItemExclusive(id)).kind).toBe('absent');
  });

  it("an uninitialized record's flag is cleared as its lock is taken: released without a save, the next lock answers None", async () => {
    const store = createStore();
    const id = newId();
    await store.createUninitializedItem(id, 20);
    const first = flat(await store.getItemExclusive(id));
    expect(first.actions).toBe(SessionStateActions.InitializeItem);
    expect(await store.releaseItemExclusive(id, first.lockId!)).toBe(true);
    expect(flat(await store.getItemExclusive(id)).actions).toBe(SessionStateActions.None);
  });

  it('can report expiries: setItemExpireCallback answers true', () => {
    const store = createStore();
    expect(store.setItemExpireCallback(() => undefined)).toBe(true);
    expect(store.setItemExpireCallback(undefined)).toBe(true);
  });

  it('sweep removes expired unlocked items and reports each to the expire callback', async () => {
    const store = createStore();
    const expired = vi.fn();
    store.setItemExpireCallback(expired);
    const id = newId();
    const alive = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{"cart":[1,2]}', timeout: 1 }, null, true);
    await store.setAndReleaseItemExclusive(alive, { items: '{"alive":true}', timeout: 30 }, null, true);

    store.sweep();
    expect(expired).not.toHaveBeenCalled();

    time += 2 * MINUTE;
    store.sweep();
    expect(expired).toHaveBeenCalledTimes(1);
    expect(expired).toHaveBeenCalledWith(id, { items: '{"cart":[1,2]}', timeout: 1 });

    // Removed: a second sweep does not report it again; the unexpired item is untouched.
    store.sweep();
    expect(expired).toHaveBeenCalledTimes(1);
    expect(flat(await store.getItem(alive)).item).toEqual({ items: '{"alive":true}', timeout: 30 });
  });

  it('sweep does not remove an expired item that a request still holds', async () => {
    const store = createStore();
    const expired = vi.fn();
    store.setItemExpireCallback(expired);
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 1 }, null, true);
    const { lockId } = flat(await store.getItemExclusive(id));
    expect(lockId).toEqual(expect.any(String));

    time += 2 * MINUTE;
    store.sweep();
    expect(expired).not.toHaveBeenCalled();
    // Still there: the holder can still release it (which slides its expiry).
    expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
    expect(flat(await store.getItem(id)).item).toEqual({ items: '{"n":1}', timeout: 1 });
  });

  it('sweep does not fire the expire callback for uninitialized items', async () => {
    const store = createStore();
    const expired = vi.fn();
    store.setItemExpireCallback(expired);
    const id = newId();
    await store.createUninitializedItem(id, 1);
    time += 2 * MINUTE;
    store.sweep();
    store.sweep();
    expect(expired).not.toHaveBeenCalled();
    expect(flat(await store.getItem(id)).item).toBeNull();
  });

  it('sweep without a callback just removes expired items', async () => {
    const store = createStore();
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 1 }, null, true);
    time += 2 * MINUTE;
    expect(() => store.sweep()).not.toThrow();
    // Registering a callback afterwards reports nothing: the item is gone.
    const expired = vi.fn();
    store.setItemExpireCallback(expired);
    store.sweep();
    expect(expired).not.toHaveBeenCalled();
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31])('rejects sweepIntervalMs = %s', (sweepIntervalMs) => {
    expect(() => new InMemorySessionStateStore({ sweepIntervalMs })).toThrow(TypeError);
  });

  it('sweeps on its timer, and close() stops the timer', async () => {
    vi.useFakeTimers();
    const store = createStore(1_000);
    const sweep = vi.spyOn(store, 'sweep');
    const expired = vi.fn();
    store.setItemExpireCallback(expired);
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 1 }, null, true);
    time += 2 * MINUTE;

    vi.advanceTimersByTime(1_000);
    expect(sweep).toHaveBeenCalledTimes(1);
    expect(expired).toHaveBeenCalledWith(id, { items: '{"n":1}', timeout: 1 });

    store.close();
    vi.advanceTimersByTime(10_000);
    expect(sweep).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() clears its interval', () => {
    const clearIntervalSpy = vi.spyOn(globalThis, 'clearInterval');
    const store = createStore();
    store.close();
    expect(clearIntervalSpy).toHaveBeenCalledTimes(1);
    expect(clearIntervalSpy.mock.calls[0]![0]).toBeDefined();
  });
});
