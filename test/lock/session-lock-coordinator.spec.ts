import { Logger } from '@nestjs/common';
import { SessionStateWaitAbortedError } from '../../src/errors/session-state.errors.js';
import { LazyAbort } from '../../src/lock/lazy-abort.js';
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
    writer.turn.releaseLocal();
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
        acquired.turn.releaseLocal();
      }),
    );
    expect(locks.waiting(id)).toBe(3);
    await store.releaseItemExclusive(id, first.result.lockId!);
    first.turn.releaseLocal();
    await Promise.all(next);
    expect(order).toEqual([1, 2, 3]);
    expect(getItemExclusive).toHaveBeenCalledTimes(4); // one per acquisition: nobody polled
  });

  it('a request that gets the lock at once makes no AbortSignal and watches nothing', async () => {
    const watch = vi.fn(() => () => {});
    const abort = new LazyAbort(watch);
    const acquired = await locks.acquireExclusive(id, abort);
    expect(acquired.result.item?.items).toBe('{"n":1}');
    expect(watch).not.toHaveBeenCalled();
  });

  it('a lazy abort stops a wait: at once when it came first, and while waiting once its source fires', async () => {
    const writer = await locks.acquireExclusive(id, new AbortController().signal);
    const early = new LazyAbort();
    early.abort();
    await expect(locks.acquireExclusive(id, early)).rejects.toBeInstanceOf(SessionStateWaitAbortedError);
    let clientGone: () => void = () => {};
    const stopWatching = vi.fn();
    const waiting = locks.acquireExclusive(
      id,
      new LazyAbort((abort) => {
        clientGone = abort;
        return stopWatching;
      }),
    );
    expect(locks.waiting(id)).toBe(1);
    clientGone();
    await expect(waiting).rejects.toBeInstanceOf(SessionStateWaitAbortedError);
    expect(locks.waiting(id)).toBe(0);
    writer.turn.releaseLocal();
  });

  it('polls a lock held by another process with reads, and tries the lock again only once it reads unlocked', async () => {
    // A second coordinator on the same store stands for another instance.
    const other = new SessionLockCoordinator(store, resolveSessionStateOptions({ store, lockWait: { pollMinMs: 1, pollMaxMs: 2 } }), new Logger('test'));
    const holder = await locks.acquireExclusive(id, new AbortController().signal);
    const getItemExclusive = vi.spyOn(store, 'getItemExclusive');
    const probed = new Promise<void>((resolve) => {
      let reads = 0;
      const probeLock = store.probeLock.bind(store);
      vi.spyOn(store, 'probeLock').mockImplementation(async (sid) => {
        const answer = await probeLock(sid);
        if (++reads === 3) resolve();
        return answer;
      });
    });
    const waiter = other.acquireExclusive(id, new AbortController().signal);
    await probed; // three polls answered "locked"
    expect(getItemExclusive).toHaveBeenCalledTimes(1); // the first attempt only
    await store.releaseItemExclusive(id, holder.result.lockId!);
    holder.turn.releaseLocal();
    const acquired = await waiter;
    expect(acquired.waited).toBe(true);
    expect(acquired.result.item?.items).toBe('{"n":1}');
    expect(getItemExclusive).toHaveBeenCalledTimes(2); // and one more once a read saw it free
  });
});
