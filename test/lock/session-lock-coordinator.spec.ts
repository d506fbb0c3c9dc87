import { Logger } from '@nestjs/common';
import { SessionStateQueueFullError, SessionStateWaitAbortedError } from '../../src/errors/session-state.errors.js';
import { LazyAbort } from '../../src/lock/lazy-abort.js';
import { SessionLockCoordinator } from '../../src/lock/session-lock-coordinator.js';
import { resolveSessionStateOptions } from '../../src/module/session-state.options.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import type { SessionStateAcquired, SessionStateAcquisition } from '../../src/store/session-state-store.js';

/** A hand-over's answer, which the test expects to be an acquisition. */
function acquiredOf(answer: SessionStateAcquisition): SessionStateAcquired {
  if (answer.kind !== 'acquired') throw new Error(`expected the lock handed over, got ${answer.kind}`);
  return answer;
}

describe('SessionLockCoordinator', () => {
  const id = 'c'.repeat(32);
  let store: InMemorySessionStateStore;
  let locks: SessionLockCoordinator;

  beforeEach(async () => {
    store = new InMemorySessionStateStore();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
    locks = new SessionLockCoordinator(store, resolveSessionStateOptions({ store }), new Logger('test'));
  });
  afterEach(() => store.close());

  it('a waiter whose request is already aborted leaves without taking another waiter out of the line', async () => {
    const writer = await locks.acquireExclusive(id, new AbortController().signal);
    const reader = locks.acquireShared(id, new AbortController().signal);
    expect(locks.waiting(id)).toBe(1);
    const gone = new AbortController();
    gone.abort();
    await expect(locks.acquireShared(id, gone.signal)).rejects.toBeInstanceOf(SessionStateWaitAbortedError);
    expect(locks.waiting(id)).toBe(1);
    await store.releaseItemExclusive(id, flat(writer.result).lockId!);
    writer.turn.releaseLocal();
    expect(flat((await reader).result).item?.items).toBe('{"n":1}');
  });

  it('hands the session to the next writer of this process in arrival order, without polling the store', async () => {
    const getItemExclusive = vi.spyOn(store, 'getItemExclusive');
    const first = await locks.acquireExclusive(id, new AbortController().signal);
    const order: number[] = [];
    const next = [1, 2, 3].map((n) =>
      locks.acquireExclusive(id, new AbortController().signal).then(async (acquired) => {
        order.push(n);
        await store.releaseItemExclusive(id, flat(acquired.result).lockId!);
        acquired.turn.releaseLocal();
      }),
    );
    expect(locks.waiting(id)).toBe(3);
    await store.releaseItemExclusive(id, flat(first.result).lockId!);
    first.turn.releaseLocal();
    await Promise.all(next);
    expect(order).toEqual([1, 2, 3]);
    expect(getItemExclusive).toHaveBeenCalledTimes(4); // one per acquisition: nobody polled
  });

  it('a request that gets the lock at once makes no AbortSignal and watches nothing', async () => {
    const watch = vi.fn(() => () => {});
    const abort = new LazyAbort(watch);
    const acquired = await locks.acquireExclusive(id, abort);
    expect(flat(acquired.result).item?.items).toBe('{"n":1}');
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
    const other = new SessionLockCoordinator(
      store,
      resolveSessionStateOptions({ store, lockWait: { pollMinMs: 1, pollMaxMs: 2 } }),
      new Logger('test'),
    );
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
    await store.releaseItemExclusive(id, flat(holder.result).lockId!);
    holder.turn.releaseLocal();
    const acquired = await waiter;
    expect(acquired.waited).toBe(true);
    expect(flat(acquired.result).item?.items).toBe('{"n":1}');
    expect(getItemExclusive).toHaveBeenCalledTimes(2); // and one more once a read saw it free
  });

  describe("readers waiting for another process's lock (review R18: each polled the store, and no cap counted them)", () => {
    const options = (maxQueueLength = 100) => resolveSessionStateOptions({ store, lockWait: { pollMinMs: 1, pollMaxMs: 2, maxQueueLength } });

    it('one reads the store for all; the others queue behind it in the process, then read once each', async () => {
      const other = new SessionLockCoordinator(store, options(), new Logger('test'));
      const mine = new SessionLockCoordinator(store, options(), new Logger('test'));
      const holder = await other.acquireExclusive(id, new AbortController().signal);
      const getItem = vi.spyOn(store, 'getItem');
      const readers = Array.from({ length: 5 }, () => mine.acquireShared(id, new AbortController().signal));
      await vi.waitFor(() => expect(mine.waiting(id)).toBe(4));
      // Polls go on (one reader's): wait for ten more reads, then count who made them.
      const before = getItem.mock.calls.length;
      await vi.waitFor(() => expect(getItem.mock.calls.length).toBeGreaterThanOrEqual(before + 10));
      expect(mine.waiting(id)).toBe(4); // nobody left the queue to poll on its own
      await store.releaseItemExclusive(id, flat(holder.result).lockId!);
      holder.turn.releaseLocal();
      const released = getItem.mock.calls.length;
      for (const reader of await Promise.all(readers)) expect(reader).toMatchObject({ waited: true, result: { kind: 'loaded' } });
      expect(getItem.mock.calls.length - released).toBeLessThanOrEqual(5); // at most one read each after the release
      expect(mine.size).toBe(0);
    });

    it('beyond lockWait.maxQueueLength they are refused (503), as writers are', async () => {
      const other = new SessionLockCoordinator(store, options(), new Logger('test'));
      const mine = new SessionLockCoordinator(store, options(2), new Logger('test'));
      const holder = await other.acquireExclusive(id, new AbortController().signal);
      const readers = Array.from({ length: 3 }, () => mine.acquireShared(id, new AbortController().signal));
      await vi.waitFor(() => expect(mine.waiting(id)).toBe(2));
      await expect(mine.acquireShared(id, new AbortController().signal)).rejects.toBeInstanceOf(SessionStateQueueFullError);
      await expect(mine.acquireExclusive(id, new AbortController().signal)).rejects.toBeInstanceOf(SessionStateQueueFullError);
      await store.releaseItemExclusive(id, flat(holder.result).lockId!);
      holder.turn.releaseLocal();
      expect((await Promise.all(readers)).map((r) => r.result.kind)).toEqual(['loaded', 'loaded', 'loaded']);
      expect(mine.size).toBe(0);
    });

    it('the one at the store leaving (its client gone) hands its turn on: the writer behind it waits at the store, the reader behind the writer', async () => {
      const other = new SessionLockCoordinator(store, options(), new Logger('test'));
      const mine = new SessionLockCoordinator(store, options(), new Logger('test'));
      const holder = await other.acquireExclusive(id, new AbortController().signal);
      const first = new AbortController();
      const leaving = mine.acquireShared(id, first.signal);
      await vi.waitFor(() => expect(mine.size).toBe(1));
      const reader = mine.acquireShared(id, new AbortController().signal);
      const writer = mine.acquireExclusive(id, new AbortController().signal);
      await vi.waitFor(() => expect(mine.waiting(id)).toBe(2));
      first.abort();
      await expect(leaving).rejects.toBeInstanceOf(SessionStateWaitAbortedError);
      // The writer took the turn (it waits at the store now); the reader, woken, queues behind it.
      await vi.waitFor(() => expect(mine.waiting(id)).toBe(1));
      await store.releaseItemExclusive(id, flat(holder.result).lockId!);
      holder.turn.releaseLocal();
      const taken = await writer;
      expect(taken).toMatchObject({ waited: true, result: { kind: 'acquired' } });
      await store.releaseItemExclusive(id, flat(taken.result).lockId!);
      taken.turn.releaseLocal();
      expect(await reader).toMatchObject({ waited: true, result: { kind: 'loaded' } });
      expect(mine.size).toBe(0);
    });
  });

  it("requests queued behind one that waited for another process's lock learn they waited too (a login there moved the session)", async () => {
    const options = resolveSessionStateOptions({ store, lockWait: { pollMinMs: 1, pollMaxMs: 2 } });
    const other = new SessionLockCoordinator(store, options, new Logger('test'));
    const mine = new SessionLockCoordinator(store, options, new Logger('test'));
    const login = await other.acquireExclusive(id, new AbortController().signal);
    const sawLock = new Promise<void>((resolve) => {
      const probeLock = store.probeLock.bind(store);
      vi.spyOn(store, 'probeLock').mockImplementation(async (sid) => (resolve(), probeLock(sid)));
    });
    const head = mine.acquireExclusive(id, new AbortController().signal);
    await sawLock;
    const behind = [mine.acquireExclusive(id, new AbortController().signal), mine.acquireShared(id, new AbortController().signal)];
    expect(mine.waiting(id)).toBe(2);
    await store.removeItem(id, flat(login.result).lockId!, { moved: true }); // regenerateId(): the old id goes
    login.turn.releaseLocal();
    const first = await head;
    expect(first).toMatchObject({ waited: true, result: { kind: 'absent' } });
    first.turn.releaseLocal();
    const [writer, reader] = await Promise.all(behind);
    expect(writer).toMatchObject({ waited: true, result: { kind: 'absent' } });
    expect(reader).toMatchObject({ waited: true, result: { kind: 'absent' } });
    (writer as Awaited<typeof head>).turn.releaseLocal();
    expect(mine.size).toBe(0);
  });

  it('a lock of another process exactly executionTimeout old is stale: broken at the first look, without polling', async () => {
    let now = 1_000_000;
    const timed = new InMemorySessionStateStore({ clock: () => now });
    try {
      await timed.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
      const options = resolveSessionStateOptions({ store: timed, executionTimeout: 1, lockWait: { pollMinMs: 1, pollMaxMs: 2 } });
      await new SessionLockCoordinator(timed, options, new Logger('test')).acquireExclusive(id, new AbortController().signal); // never ends
      now += 1000;
      // A poll moves the clock on, so that a coordinator that does not break it now still ends (one probe later).
      const probes = vi.spyOn(timed, 'probeLock').mockImplementation(async (lockedId) => {
        now += 1;
        return InMemorySessionStateStore.prototype.probeLock.call(timed, lockedId);
      });
      const mine = await new SessionLockCoordinator(timed, options, new Logger('test')).acquireExclusive(id, new AbortController().signal);
      expect({ kind: mine.result.kind, brokeStale: mine.brokeStale, probes: probes.mock.calls.length }).toEqual({
        kind: 'acquired',
        brokeStale: true,
        probes: 0,
      });
    } finally {
      timed.close();
    }
  });

  it(
    'a writer that queued while the holder was still asking the store is let through once the lock it then took turns stale',
    { timeout: 5000 },
    async () => {
      let answer!: () => void;
      const asked = new Promise<void>((resolve) => (answer = resolve));
      const slow = vi.spyOn(store, 'getItemExclusive');
      slow.mockImplementationOnce(async (lockedId) => {
        await asked; // the holder's lock call is under way while the second writer queues
        return InMemorySessionStateStore.prototype.getItemExclusive.call(store, lockedId);
      });
      const options = resolveSessionStateOptions({ store, executionTimeout: 0.05 });
      const local = new SessionLockCoordinator(store, options, new Logger('test'));
      const hung = local.acquireExclusive(id, new AbortController().signal); // takes the lock, never ends
      const second = local.acquireExclusive(id, new AbortController().signal);
      expect(local.waiting(id)).toBe(1);
      answer();
      expect((await hung).result.kind).toBe('acquired');
      const next = await second;
      expect({ kind: next.result.kind, brokeStale: next.brokeStale, waited: next.waited }).toEqual({
        kind: 'acquired',
        brokeStale: true,
        waited: true,
      });
    },
  );

  describe('holds nothing for a session nobody holds or waits for', () => {
    const signal = () => new AbortController().signal;
    /** The holder's end of a read-write request that changed nothing: release, then hand the turn on. */
    const finish = async (acquired: { result: SessionStateAcquisition; turn: { releaseLocal(): void } }) => {
      if (acquired.result.kind === 'acquired') await store.releaseItemExclusive(id, acquired.result.lockId);
      acquired.turn.releaseLocal();
    };

    it('after a hand-off that woke only readers', async () => {
      const writer = await locks.acquireExclusive(id, signal());
      const readers = [locks.acquireShared(id, signal()), locks.acquireShared(id, signal())];
      expect(locks.waiting(id)).toBe(2);
      await finish(writer);
      for (const reader of await Promise.all(readers)) expect(flat(reader.result).item?.items).toBe('{"n":1}');
      expect(locks.size).toBe(0);
    });

    it('after a reader that found the lock held by a live holder of this process waited for its hand-off', async () => {
      // The reader reads the store once the writer locked it (it arrived just before the writer).
      let writerLocked: () => void = () => {};
      const locked = new Promise<void>((resolve) => (writerLocked = resolve));
      const getItem = store.getItem.bind(store);
      const read = vi.spyOn(store, 'getItem').mockImplementationOnce(async (sid) => (await locked, getItem(sid)));
      const reader = locks.acquireShared(id, signal());
      const writer = await locks.acquireExclusive(id, signal());
      writerLocked();
      await vi.waitFor(() => expect(locks.waiting(id)).toBe(1));
      expect((await read.mock.results[0]!.value).kind).toBe('locked');
      await finish(writer);
      await reader;
      expect(locks.size).toBe(0);
    });

    it('after waiters of both kinds left (aborted), and after one refused for a full queue', async () => {
      const small = new SessionLockCoordinator(store, resolveSessionStateOptions({ store, lockWait: { maxQueueLength: 2 } }), new Logger('test'));
      const writer = await small.acquireExclusive(id, signal());
      const leaving = new AbortController();
      const waiters = [small.acquireExclusive(id, leaving.signal), small.acquireShared(id, leaving.signal)];
      await expect(small.acquireExclusive(id, signal())).rejects.toThrow(/Too many concurrent requests/);
      leaving.abort();
      for (const waiter of waiters) await expect(waiter).rejects.toBeInstanceOf(SessionStateWaitAbortedError);
      expect(small.size).toBe(1); // the writer still holds the session
      await finish(writer);
      expect(small.size).toBe(0);
    });

    it('after acquisitions the store failed, first in line and woken', async () => {
      const writer = await locks.acquireExclusive(id, signal());
      const woken = locks.acquireExclusive(id, signal());
      vi.spyOn(store, 'getItemExclusive').mockRejectedValue(new Error('store down'));
      await finish(writer);
      await expect(woken).rejects.toThrow('store down');
      await expect(locks.acquireExclusive(id, signal())).rejects.toThrow('store down');
      expect(locks.size).toBe(0);
    });

    it('after a holder of this process went stale while only readers waited, once it finally ends', async () => {
      const quick = new SessionLockCoordinator(store, resolveSessionStateOptions({ store, executionTimeout: 0.05 }), new Logger('test'));
      const hung = await quick.acquireExclusive(id, signal());
      // Woken when the hung holder's lock turns stale; it then breaks that lock at the store.
      const reader = await quick.acquireShared(id, signal());
      expect(flat(reader.result).item?.items).toBe('{"n":1}');
      expect(quick.size).toBe(0);
      hung.turn.releaseLocal();
      expect(quick.size).toBe(0);
    });

    it('after a stale lock of another process was broken', async () => {
      const options = resolveSessionStateOptions({ store, executionTimeout: 0.05, lockWait: { pollMinMs: 1, pollMaxMs: 5 } });
      const other = new SessionLockCoordinator(store, options, new Logger('test'));
      const mine = new SessionLockCoordinator(store, options, new Logger('test'));
      await other.acquireExclusive(id, signal()); // never ends: its lock turns stale
      const [first, second] = [mine.acquireExclusive(id, signal()), mine.acquireShared(id, signal())];
      await finish(await first);
      await second;
      expect(mine.size).toBe(0);
    });

    it('after a hand-over whose writer left meanwhile, and after one that was taken', async () => {
      const writer = await locks.acquireExclusive(id, signal());
      const leaving = new AbortController();
      const next = locks.acquireExclusive(id, leaving.signal);
      expect(writer.turn.canHandOver()).toBe(true);
      const handed = acquiredOf(await store.handOverItemExclusive(id, { items: '{"n":2}', timeout: 20 }, flat(writer.result).lockId!, true));
      leaving.abort();
      await expect(next).rejects.toBeInstanceOf(SessionStateWaitAbortedError);
      await writer.turn.handOver(handed); // nobody to take it: released
      expect(locks.size).toBe(0);

      const again = await locks.acquireExclusive(id, signal());
      const taker = locks.acquireExclusive(id, signal());
      await again.turn.handOver(
        acquiredOf(await store.handOverItemExclusive(id, { items: '{"n":3}', timeout: 20 }, flat(again.result).lockId!, true)),
      );
      await finish(await taker);
      expect(locks.size).toBe(0);
    });

    it('after shutdown turned its waiters away, once the holder ends', async () => {
      const writer = await locks.acquireExclusive(id, signal());
      const waiters = [locks.acquireExclusive(id, signal()), locks.acquireShared(id, signal())];
      locks.close();
      for (const waiter of waiters) await expect(waiter).rejects.toBeInstanceOf(SessionStateWaitAbortedError);
      await finish(writer);
      expect(locks.size).toBe(0);
    });

    it('after a session found absent (its id unknown), with writers queued behind', async () => {
      const unknown = 'u'.repeat(32);
      const first = await locks.acquireExclusive(unknown, signal());
      const behind = [locks.acquireExclusive(unknown, signal()), locks.acquireShared(unknown, signal())];
      first.turn.releaseLocal();
      const [writer] = await Promise.all(behind);
      (writer as Awaited<ReturnType<typeof locks.acquireExclusive>>).turn.releaseLocal();
      expect(locks.size).toBe(0);
    });
  });
});
