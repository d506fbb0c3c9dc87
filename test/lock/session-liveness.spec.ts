import { SessionLiveness } from '../../src/core/session-liveness.js';
import type { SessionLease } from '../../src/core/session-lease.js';
import { SessionStateCorruptError, SessionStateEndedError, SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { HttpSessionState } from '../../src/session/http-session-state.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStoreData } from '../../src/store/session-state-store.js';
import { countingStore } from '../support/counting-store.js';

/** What a subscription's check runs on: the memory store, counted; refusals recorded. */
function setup(absoluteTimeoutMs: number | null = null) {
  const memory = new InMemorySessionStateStore();
  const { store, counter } = countingStore(memory);
  const rejected: unknown[] = [];
  const liveness = new SessionLiveness(store, absoluteTimeoutMs, (error) => rejected.push(error));
  return { memory, store, counter, rejected, liveness };
}

/** A stored session and the snapshot lease a stream read of it. */
async function stored(store: InMemorySessionStateStore, created = Date.now()): Promise<SessionLease> {
  const id = generateSessionId();
  const item: SessionStateStoreData = { items: '{"user":"ada"}', timeout: 20, created };
  await store.setAndReleaseItemExclusive(id, item, null, true);
  const session = new HttpSessionState({ id, items: item.items, isNew: false, isReadOnly: true, timeout: 20 });
  return {
    behavior: 2,
    session,
    lockId: null,
    refreshExpiry: false,
    resignCookie: false,
    loaded: item,
    turn: null,
    adopted: true,
    acquiredAt: 0,
  } as never;
}

describe('SessionLiveness (is a stream’s session still there?)', () => {
  it('a live session passes; checks of one session that overlap share one read; a later check reads again', async () => {
    const { memory, counter, liveness, rejected } = setup();
    const lease = await stored(memory);
    counter.reset();
    await Promise.all([liveness.check(lease), liveness.check(lease), liveness.check(lease)]);
    expect(counter.calls).toEqual({ getItem: 1 });
    await liveness.check(lease);
    expect(counter.calls).toEqual({ getItem: 2 });
    expect(rejected).toEqual([]);
  });

  it('a session held by a request (locked) lives', async () => {
    const { memory, liveness } = setup();
    const lease = await stored(memory);
    expect((await memory.getItemExclusive(lease.session.id)).kind).toBe('acquired');
    await expect(liveness.check(lease)).resolves.toBeUndefined();
  });

  it('a removed session has ended, for every overlapping check, each counted', async () => {
    const { memory, liveness, rejected } = setup();
    const lease = await stored(memory);
    const lock = await memory.getItemExclusive(lease.session.id);
    await memory.removeItem(lease.session.id, (lock as { lockId: string }).lockId);
    const checks = [liveness.check(lease), liveness.check(lease)];
    for (const check of checks) await expect(check).rejects.toBeInstanceOf(SessionStateEndedError);
    expect(rejected.map((e) => (e as Error).name)).toEqual(['SessionStateEndedError', 'SessionStateEndedError']);
  });

  it('past absoluteTimeout: ended, from the snapshot without a store call, or from the stored creation', async () => {
    const { memory, counter, liveness } = setup(60 * 60_000);
    const old = await stored(memory, Date.now() - 61 * 60_000);
    counter.reset();
    await expect(liveness.check(old)).rejects.toBeInstanceOf(SessionStateEndedError);
    expect(counter.total()).toBe(0);
    // The snapshot says young, the store says otherwise (the record was rewritten with an older creation).
    const young = await stored(memory);
    const lock = await memory.getItemExclusive(young.session.id);
    if (lock.kind !== 'acquired') throw new Error(lock.kind);
    await memory.setAndReleaseItemExclusive(young.session.id, { ...lock.item, created: Date.now() - 61 * 60_000 }, lock.lockId, false);
    await expect(liveness.check(young)).rejects.toBeInstanceOf(SessionStateEndedError);
  });

  it('a store that fails: the check fails with its error (the stream stops), and the next check reads again', async () => {
    const { memory, counter, liveness, rejected } = setup();
    const lease = await stored(memory);
    // Faults a real memory store cannot produce, on this instance only.
    const outage = new SessionStateStoreUnavailableError('store down');
    memory.getItem = () => Promise.reject(outage);
    await expect(liveness.check(lease)).rejects.toBe(outage);
    expect(rejected).toEqual([outage]);
    memory.getItem = () => Promise.reject(new SessionStateCorruptError('unreadable'));
    await expect(liveness.check(lease)).rejects.toBeInstanceOf(SessionStateEndedError); // its next request would start anew
    delete (memory as Partial<InMemorySessionStateStore>).getItem; // its own method again
    counter.reset();
    await liveness.check(lease);
    expect(counter.calls).toEqual({ getItem: 1 });
  });

  it('a store read that never answers holds up only the checks of its turn: a check in a later turn reads anew and settles', async () => {
    const { memory, counter, liveness } = setup();
    const lease = await stored(memory);
    // One call that a real memory store cannot lose (a command lost on a half-open connection, a custom store).
    const answering = memory.getItem.bind(memory);
    memory.getItem = () => new Promise(() => {});
    const settled: string[] = [];
    const track = (name: string, check: Promise<void>) => check.then(() => settled.push(name));
    void track('first', liveness.check(lease));
    void track('same turn', liveness.check(lease)); // joins the read in flight (one read per burst)
    memory.getItem = answering;
    await new Promise<void>((resolve) => setImmediate(resolve)); // the next turn of the event loop
    counter.reset();
    await track('later', liveness.check(lease));
    expect(counter.calls).toEqual({ getItem: 1 }); // its own read, not the lost one
    expect(settled).toEqual(['later']);
  });
});
