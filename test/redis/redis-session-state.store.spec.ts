import { randomBytes } from 'node:crypto';
import { createClient, type RedisClientType } from 'redis';
import {
  SessionStateCorruptError,
  SessionStateLockLostError,
  SessionStateStoreUnavailableError,
  SessionStateTooLargeError,
} from '../../src/errors/session-state.errors.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { commandCalls } from '../support/redis-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let admin: RedisClientType;
let store: RedisSessionStateStore;
let n = 0;
const newId = () => `store-spec-${Date.now()}-${n++}`;
const data = (values: Record<string, unknown>, timeout = 20) => ({ items: JSON.stringify(values), timeout });

beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  await admin.connect();
  store = new RedisSessionStateStore({ url: server.url });
  await store.init();
});
afterAll(async () => {
  await store?.close();
  admin?.destroy();
  await server?.stop();
});

/** Bytes Redis sent to its clients while `run` ran (INFO stats). */
async function bytesOut(run: () => Promise<unknown>): Promise<number> {
  const read = async () => Number(/total_net_output_bytes:(\d+)/.exec(await admin.info('stats'))![1]);
  const before = await read();
  await run();
  return (await read()) - before;
}

describe('RedisSessionStateStore on a real server', () => {
  it("lock cost does not grow with the session's size: a contended lock, a probe and a release of a 200 KB session send as few bytes as of a 1 KB one", async () => {
    const costs: number[][] = [];
    for (const size of [1_000, 200_000]) {
      const id = newId();
      // Random bytes: compression cannot make the large one small.
      await store.setAndReleaseItemExclusive(id, data({ blob: randomBytes(size * 0.75).toString('base64') }), null, true);
      const { lockId } = flat(await store.getItemExclusive(id));
      const contended = await bytesOut(() => store.getItemExclusive(id));
      const probe = await bytesOut(() => store.probeLock(id));
      const release = await bytesOut(() => store.releaseItemExclusive(id, lockId!));
      costs.push([contended, probe, release]);
    }
    // Each count includes the INFO reply (about 1.4 KB) alike: the 200 KB session adds nothing to any of them.
    for (const cost of costs.flat()) expect(cost).toBeLessThan(3_000);
    for (let i = 0; i < 3; i++) expect(Math.abs(costs[1]![i]! - costs[0]![i]!)).toBeLessThan(100);
  });

  it("a read (a plain HMGET) of a locked session: answers locked and marks it as waited for, so its release publishes; a reader's retries of a locked 200 KB session cost what a 1 KB one's do", async () => {
    const retries: number[] = [];
    for (const size of [1_000, 200_000]) {
      const id = newId();
      await store.setAndReleaseItemExclusive(id, data({ blob: randomBytes(size * 0.75).toString('base64') }), null, true);
      const { lockId } = flat(await store.getItemExclusive(id));
      expect(await admin.hGet(store.key(id), 'w')).toBeNull();
      expect((await store.getItem(id)).kind).toBe('locked');
      expect(await admin.hGet(store.key(id), 'w')).toBe('1');
      retries.push(await bytesOut(() => store.getItem(id)), await bytesOut(() => store.getItem(id)));

      const subscriber = admin.duplicate();
      await subscriber.connect();
      const published = new Promise<string>((resolve) => void subscriber.sSubscribe(`${store.key(id)}:r`, resolve));
      // SSUBSCRIBE has been answered once a command sent after it on the same connection is.
      await subscriber.ping();
      expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
      expect(await published).toBe('r');
      subscriber.destroy();
      // Unlocked again: the items, by the plain read.
      expect(JSON.parse(flat(await store.getItem(id)).item!.items).blob).toHaveLength(size);
    }
    for (const cost of retries) expect(cost).toBeLessThan(3_000);
  });

  it('compresses items above the threshold (field g, smaller than the JSON) and reads them back verbatim', async () => {
    const id = newId();
    const items = JSON.stringify({ text: 'session state '.repeat(2_000), emoji: '🔒' });
    await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);
    const stored = await admin.hGetAll(store.key(id));
    expect(stored.i).toBeUndefined();
    expect(Number(await admin.sendCommand(['HSTRLEN', store.key(id), 'g']))).toBeLessThan(items.length / 10);
    expect(flat(await store.getItem(id)).item).toEqual({ items, timeout: 20 });
    // Saved again small: back to plain JSON, the compressed field gone.
    const { lockId } = flat(await store.getItemExclusive(id));
    await store.setAndReleaseItemExclusive(id, data({ small: true }), lockId, false);
    expect(Object.keys(await admin.hGetAll(store.key(id))).sort()).toEqual(['e', 'i', 'r', 't', 'v', 'x']);
  });

  it('a session over maxItemBytes: SessionStateTooLargeError, nothing written, the lock still held by its holder', async () => {
    const small = new RedisSessionStateStore({ url: server.url, maxItemBytes: 1_000, compression: false });
    await small.init();
    try {
      const id = newId();
      await small.setAndReleaseItemExclusive(id, data({ n: 1 }), null, true);
      const { lockId } = flat(await small.getItemExclusive(id));
      await expect(small.setAndReleaseItemExclusive(id, data({ big: 'x'.repeat(2_000) }), lockId, false)).rejects.toBeInstanceOf(
        SessionStateTooLargeError,
      );
      expect(flat(await small.getItem(id)).lockId).toBe(lockId);
      expect(await small.releaseItemExclusive(id, lockId!)).toBe(true);
      expect(flat(await small.getItem(id)).item).toEqual(data({ n: 1 }));
    } finally {
      await small.close();
    }
  });

  it('corrupt records are SessionStateCorruptError, never a crash: another type at the key, an unknown format, undecodable gzip (lock id handed back)', async () => {
    const wrongType = newId();
    await admin.set(store.key(wrongType), 'not a hash');
    await expect(store.getItem(wrongType)).rejects.toBeInstanceOf(SessionStateCorruptError);
    await expect(store.getItemExclusive(wrongType)).rejects.toBeInstanceOf(SessionStateCorruptError);

    const unknownFormat = newId();
    await admin.hSet(store.key(unknownFormat), { v: '99', e: String(Date.now() + 60_000), t: '20', i: '{}' });
    await expect(store.getItem(unknownFormat)).rejects.toBeInstanceOf(SessionStateCorruptError);

    const badGzip = newId();
    await admin.hSet(store.key(badGzip), { v: '1', e: String(Date.now() + 60_000), t: '20', g: 'not gzip' });
    const error = await store.getItemExclusive(badGzip).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionStateCorruptError);
    expect((error as Error).message).not.toContain(badGzip);
    const { lockId } = error as SessionStateCorruptError;
    expect(lockId).toEqual(expect.any(String));
    expect(await store.releaseItemExclusive(badGzip, lockId!)).toBe(true);
  });

  it('setItemExclusive: a mid-request save keeps the lock (same id, same lock date); a new item is inserted locked under a new id', async () => {
    const id = newId();
    await store.setAndReleaseItemExclusive(id, data({ n: 1 }), null, true);
    const { lockId } = flat(await store.getItemExclusive(id));
    const lockDate = await admin.hGet(store.key(id), 'd');
    expect(await store.setItemExclusive(id, data({ n: 2 }), lockId, false)).toBe(lockId);
    expect(await admin.hGet(store.key(id), 'd')).toBe(lockDate);
    const read = flat(await store.getItem(id));
    expect(read.lockId).toBe(lockId);
    await store.setAndReleaseItemExclusive(id, data({ n: 3 }), lockId, false);
    expect(flat(await store.getItem(id)).item).toEqual(data({ n: 3 }));
    await expect(store.setItemExclusive(id, data({ n: 4 }), lockId, false)).rejects.toMatchObject({ reason: 'lock_mismatch' });

    const fresh = newId();
    const held = await store.setItemExclusive(fresh, data({ a: 1 }), null, true);
    expect(flat(await store.getItem(fresh)).lockId).toBe(held);
    await expect(store.setItemExclusive(fresh, data({ a: 2 }), null, true)).rejects.toMatchObject({ reason: 'item_exists' });
    await expect(store.setItemExclusive(newId(), data({ a: 1 }), 'no-such-lock', false)).rejects.toBeInstanceOf(SessionStateLockLostError);
  });

  it("the owner index: one sorted set per owner in the owner's slot, without TTL, scored by until when each entry is needed; a logout removes its entry; revokeOwner leaves entries it did not remove to their horizon", async () => {
    const owner = `owner-${newId()}`;
    const ownerKey = `sess:owner:{${owner}}`;
    const [a, b, c] = [newId(), newId(), newId()];
    const before = Date.now();
    for (const id of [a, b, c]) await store.setAndReleaseItemExclusive(id, { ...data({}), owner }, null, true);
    const entries = await admin.zRangeWithScores(ownerKey, 0, -1);
    expect(entries.map((e) => e.value).sort()).toEqual([a, b, c].sort());
    // Needed until the session's expiry + ttlExtraSeconds + a timeout of slack (the session's field u).
    for (const { value, score } of entries) {
      expect(score).toBe(Number(await admin.hGet(store.key(value), 'u')));
      expect(score).toBeGreaterThanOrEqual(before + 2 * 20 * 60_000 + 60_000);
    }
    expect(await admin.pTTL(ownerKey)).toBe(-1);
    // Registered for the sweep no earlier than its newest entry's horizon.
    expect(Number(await admin.zScore('sess:owners', owner))).toBe(Math.max(...entries.map((e) => e.score)));
    // Logout (abandon): the entry goes with the session.
    const { lockId } = flat(await store.getItemExclusive(a));
    await store.removeItem(a, lockId!);
    await vi.waitFor(async () => expect((await admin.zRange(ownerKey, 0, -1)).sort()).toEqual([b, c].sort()));
    // A session that lost its owner, and one deleted behind the store's back: stale entries.
    const { lockId: lockB } = flat(await store.getItemExclusive(b));
    await store.setAndReleaseItemExclusive(b, data({}), lockB, false);
    await vi.waitFor(async () => expect(await admin.zScore(ownerKey, b)).toBeNull()); // its removal, not awaited by the store
    await admin.zAdd(ownerKey, { score: Date.now() + 3_600_000, value: b });
    await admin.del(store.key(c));
    expect(await store.revokeOwner(owner)).toBe(0);
    // b's entry stays (a login may make it the owner's again meanwhile: redis-revoke-owner-race), and so
    // does c's (an absent id may be a login's claim whose save is under way: redis-revoke-owner-absent-race);
    // their horizons drop them.
    expect((await admin.zRange(ownerKey, 0, -1)).sort()).toEqual([b, c].sort());
    expect(flat(await store.getItem(b)).item).toEqual(data({}));
  });

  it("a user's list: one ZRANGE and one HMGET per session, no script, and the bytes do not grow with the sessions' size", async () => {
    const owner = `list-${newId()}`;
    const ids = [newId(), newId(), newId()];
    await store.setAndReleaseItemExclusive(ids[0]!, { ...data({ n: 1 }), owner, created: 1_700_000_000_000, client: 'c' }, null, true);
    await store.setAndReleaseItemExclusive(ids[1]!, { ...data({ n: 1 }), owner }, null, true);
    const small = await bytesOut(() => store.listOwnerSessions(owner));
    await store.setAndReleaseItemExclusive(ids[2]!, { ...data({ blob: randomBytes(150_000).toString('base64') }), owner }, null, true);
    const before = await commandCalls(admin);
    const listed = await store.listOwnerSessions(owner);
    const after = await commandCalls(admin);
    const delta = Object.fromEntries(
      Object.entries(after)
        .map(([name, calls]) => [name, calls - (before[name] ?? 0)])
        .filter(([, d]) => d !== 0),
    );
    expect(delta).toEqual({ zrange: 1, hmget: 3, info: 1 });
    expect(listed.map((s) => s.id).sort()).toEqual([...ids].sort());
    expect(listed.find((s) => s.id === ids[0])).toMatchObject({ created: 1_700_000_000_000, client: 'c', timeout: 20 });
    const large = await bytesOut(() => store.listOwnerSessions(owner));
    expect(large).toBeLessThan(small * 2 + 500);
  });

  it('an unreachable server: SessionStateStoreUnavailableError within requestTimeoutMs, no hang', async () => {
    const down = await startRedisServer();
    const lonely = new RedisSessionStateStore({ url: down.url, requestTimeoutMs: 200, clientOptions: { socket: { reconnectStrategy: () => 50 } } });
    await lonely.init();
    await down.kill();
    try {
      const started = Date.now();
      await expect(lonely.getItemExclusive(newId())).rejects.toBeInstanceOf(SessionStateStoreUnavailableError);
      await expect(lonely.getItem(newId())).rejects.toBeInstanceOf(SessionStateStoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect((await lonely.checkHealth()).up).toBe(false);
    } finally {
      await lonely.close();
    }
  });

  it('rejects bad options with a TypeError that names them', () => {
    expect(() => new RedisSessionStateStore({ keyPrefix: 'a{b' })).toThrow(/keyPrefix/);
    expect(() => new RedisSessionStateStore({ requestTimeoutMs: 0 })).toThrow(/requestTimeoutMs/);
    expect(() => new RedisSessionStateStore({ releaseNotifications: { fallbackPollMs: -1 } })).toThrow(/fallbackPollMs/);
    expect(() => new RedisSessionStateStore({ ownerSweep: { intervalMs: 10 } })).toThrow(/ownerSweep\.intervalMs/);
    expect(() => new RedisSessionStateStore({ client: admin as never, url: server.url })).toThrow(/either client/);
  });
});
