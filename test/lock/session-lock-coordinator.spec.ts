import { Logger } from '@nestjs/common';
import { SessionStateWaitAbortedError } from '../../src/errors/session-state.errors.js';
import { SessionLockCoordinator } from '../../src/lock/session-lock-coordinator.js';
import { resolveSessionStateOptions } from '../../src/session-state.options.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';

describe('SessionLockCoordinator', () => {
  const id = 'c'.repeat(32);
  let store: InMemorySessionStateStore;
  let locks: SessionLockCoordinator;

  beforeEach(async () => {
    store = new InMemorySessionStateStore();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
    locks = new SessionLockCoordinator(store, resolveSessionStateOptions({ store }), new Logger('test'));
  });
  afterEach(() => store.onModuleDestroy());

  it('a waiter whose request is already aborted leaves without taking another waiter out of the line', async () => {
    const writer = await locks.acquireExclusive(id, new AbortController().signal);
    const reader = locks.acquireShared(id, new AbortController().signal);
    expect(locks.waiting(id)).toBe(1);
    const gone = new AbortController();
    gone.abort();
    await expect(locks.acquireShared(id, gone.signal)).rejects.toBeInstanceOf(SessionStateWaitAbortedError);
    expect(locks.waiting(id)).toBe(1);
    await store.releaseItemExclusive(id, writer.result.lockId!);
    writer.releaseLocal();
    expect((await reader).result.item?.items).toBe('{"n":1}');
  });

  it('hands the session to the next writer of this process in arrival order, without polling the store', async () => {
    const getItemExclusive = vi.spyOn(store, 'getItemExclusive');
    const first = await locks.acquireExclusive(id, new AbortController().signal);
    const order: number[] = [];
    const next = [1, 2, 3].map((n) =>
      locks.acquireExclusive(id, new AbortController().signal).then(async (acquired) => {
        order.push(n);
        await store.releaseItemExclusive(id, acquired.result.lockId!);
        acquired.releaseLocal();
      }),
    );
    expect(locks.waiting(id)).toBe(3);
    await store.releaseItemExclusive(id, first.result.lockId!);
    first.releaseLocal();
    await Promise.all(next);
    expect(order).toEqual([1, 2, 3]);
    expect(getItemExclusive).toHaveBeenCalledTimes(4); // one per acquisition: nobody polled
  });
});
