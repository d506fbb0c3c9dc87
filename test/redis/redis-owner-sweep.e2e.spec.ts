/**
 * The owner indexes and cap books have no TTL (so that no volatile-* eviction policy picks them), so
 * the store's sweep is their way out: an owner is registered in `sess:owners` scored by its newest
 * entry's horizon; a sweep deletes the keys of owners none of whose entries is needed any more, leaves
 * the others (scored again), is safe beside other instances' sweeps and logins, and runs by itself on
 * the store's timer. An index of the older kind (a set with a TTL) becomes a sorted set where it is written.
 */
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { createClient, type RedisClientType } from 'redis';
import { fromIoredis, RedisSessionStateStore } from '../../src/redis/index.js';
import { REAP_DONE, REAP_OWNER, REAP_PICK, REAP_REGISTER } from '../../src/redis/redis-scripts.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

const MINUTE = 60_000;
let server: RedisServer;
let admin: RedisClientType;
/** The clock of every store here: moved forward by the tests (sessions and index entries expire by it). */
let offset = 0;
const clock = () => Date.now() + offset;
const stores: RedisSessionStateStore[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  await admin.connect();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await admin.flushAll();
  offset = 0;
});
afterAll(async () => {
  admin?.destroy();
  await server?.stop();
});

function newStore(options: { intervalMs?: number } = {}): RedisSessionStateStore {
  const store = new RedisSessionStateStore({
    url: server.url,
    clock,
    releaseNotifications: false,
    ownerSweep: options.intervalMs === undefined ? false : { intervalMs: options.intervalMs },
  });
  stores.push(store);
  return store;
}

async function signIn(store: RedisSessionStateStore, owner: string, timeout = 20, max?: number): Promise<string> {
  const id = generateSessionId();
  if (max !== undefined) await store.claimOwnerSlot({ owner, id, max, policy: 'refuse', pendingMs: 110_000, keepMs: timeout * MINUTE });
  await store.setAndReleaseItemExclusive(id, { items: '{}', timeout, owner }, null, true);
  return id;
}

const ownerKeys = (owner: string) => [`sess:owner:{${owner}}`, `sess:owner:{${owner}}:cap`];

describe('the owner sweep', () => {
  it("deletes the index and book of owners none of whose entries is needed; leaves an owner with one live session, scored by its newest entry's horizon", async () => {
    const store = newStore();
    await store.init();
    await signIn(store, 'gone-a', 20, 3);
    await signIn(store, 'gone-b');
    const live = await signIn(store, 'live', 20, 3);
    // Entries are needed for the expiry (20 min) + ttlExtra (1 min) + a timeout of slack (20 min): 41 min.
    offset = 40 * MINUTE;
    const fresh = await signIn(store, 'live', 20, 3);
    expect(await store.sweepOwners()).toEqual({ visited: 0, removed: 0 });
    offset = 41 * MINUTE + 2_000;
    // gone-* are due; 'live' was registered again by its new login: not due.
    expect(await store.sweepOwners()).toEqual({ visited: 2, removed: 2 });
    expect(await admin.exists([...ownerKeys('gone-a'), ...ownerKeys('gone-b')])).toBe(0);
    expect(await admin.zRange('sess:owners', 0, -1)).toEqual(['live']);
    // The first 'live' session's entry, past its horizon now, goes where the index is next written (or swept).
    expect((await store.getItem(live)).kind).toBe('absent');
    await signIn(store, 'live');
    expect(await admin.zRange('sess:owner:{live}', 0, -1)).not.toContain(live);
    expect(await admin.zRange('sess:owner:{live}', 0, -1)).toContain(fresh);
    expect(await store.revokeOwner('live')).toBe(2);
  });

  it('an owner visited before its newest horizon (registered early) is scored again, not removed', async () => {
    const store = newStore();
    await store.init();
    await signIn(store, 'early');
    const horizon = Number(await admin.zScore('sess:owners', 'early'));
    await admin.zAdd('sess:owners', { score: 1, value: 'early' });
    expect(await store.sweepOwners()).toEqual({ visited: 1, removed: 0 });
    expect(Number(await admin.zScore('sess:owners', 'early'))).toBe(horizon);
    expect(await admin.exists(ownerKeys('early')[0]!)).toBe(1);
  });

  it("an owner whose registration failed (the reaper set refused: another node's outage, say) is registered by the next sweep, and its keys go in time", async () => {
    // A user refused the reaper set only: every other key of the store is allowed (a real refusal by Redis).
    await admin.sendCommand(['ACL', 'SETUSER', 'no-reaper', 'reset', 'on', '>pw', '~sess:{*', '~sess:owner:*', '&sess:*', '+@all']);
    const store = new RedisSessionStateStore({
      url: `redis://no-reaper:pw@127.0.0.1:${server.port}`,
      clock,
      releaseNotifications: false,
      ownerSweep: false,
    });
    stores.push(store);
    await store.init();
    const warnings = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    try {
      await signIn(store, 'unregistered');
    } finally {
      warnings.mockRestore();
    }
    expect({ registered: await admin.zScore('sess:owners', 'unregistered'), index: await admin.exists(ownerKeys('unregistered')[0]!) }).toEqual({
      registered: null,
      index: 1,
    });
    await admin.sendCommand(['ACL', 'SETUSER', 'no-reaper', '~sess:owners']);
    offset = 41 * MINUTE + 2_000; // the session and its entry's horizon are past
    expect(await store.sweepOwners()).toEqual({ visited: 1, removed: 1 });
    expect(await admin.exists(ownerKeys('unregistered'))).toBe(0);
  });

  it('two instances sweeping 300 stale owners at once: each owner visited once (the lease), every key gone', async () => {
    const [a, b] = [newStore(), newStore()];
    await Promise.all([a.init(), b.init()]);
    const owners = Array.from({ length: 300 }, (_, i) => `stale-${i}`);
    for (const owner of owners) await signIn(a, owner, 1, 2);
    offset = 3 * MINUTE + 2_000;
    const [x, y] = await Promise.all([a.sweepOwners(), b.sweepOwners()]);
    expect({ visited: x.visited + y.visited, removed: x.removed + y.removed }).toEqual({ visited: 300, removed: 300 });
    expect(await admin.keys('sess:owner*')).toEqual([]);
  });

  it('a login registering an owner that a sweep has leased wins: the sweep does not drop it', async () => {
    const reaper = 'sess:owners';
    const now = Date.now();
    await admin.zAdd(reaper, { score: now - 1, value: 'raced' });
    const picked = (await admin.eval(REAP_PICK.source, { keys: [reaper], arguments: [String(now), '100', '60000'] })) as string[];
    expect(picked.slice(1)).toEqual(['raced']);
    // The owner's index was empty when the sweep looked (REAP_OWNER: 0)...
    expect(await admin.eval(REAP_OWNER.source, { keys: ownerKeys('raced'), arguments: [String(now)] })).toBe(0);
    // ...and a login indexes the owner and registers it before the sweep's last step.
    await admin.eval(REAP_REGISTER.source, { keys: [reaper], arguments: ['raced', String(now + 5_000)] });
    await admin.eval(REAP_DONE.source, { keys: [reaper], arguments: [picked[0]!, 'raced', '0'] });
    expect(await admin.zScore(reaper, 'raced')).toBe(now + 5_000);
  });

  it("runs by itself on the store's timer (that none runs once closed: redis-owner-sweep-schedule.spec.ts)", async () => {
    const store = newStore({ intervalMs: 1_000 });
    await store.init();
    await signIn(store, 'timed', 1);
    offset = 3 * MINUTE + 2_000;
    await vi.waitFor(async () => expect(await admin.exists(ownerKeys('timed')[0]!)).toBe(0), { timeout: 5_000, interval: 50 });
    await store.close();
  });

  it('on an ioredis client (fromIoredis) likewise', async () => {
    const ioredis = new Redis(server.port, '127.0.0.1', { lazyConnect: true });
    await ioredis.connect();
    try {
      const store = new RedisSessionStateStore({ client: fromIoredis(ioredis), clock, releaseNotifications: false, ownerSweep: false });
      stores.push(store);
      await store.init();
      await signIn(store, 'io-gone', 1, 2);
      await signIn(store, 'io-live', 20);
      offset = 3 * MINUTE + 2_000;
      expect(await store.sweepOwners()).toEqual({ visited: 1, removed: 1 });
      expect(await admin.keys('sess:owner:*')).toEqual(['sess:owner:{io-live}']);
      await store.close();
    } finally {
      ioredis.disconnect();
    }
  });

  it('an index of the older kind (a set with a TTL) becomes a sorted set without TTL where it is written, each member kept until the set would have expired', async () => {
    const store = newStore();
    await store.init();
    const owner = 'legacy';
    const [key] = ownerKeys(owner);
    await admin.sAdd(key!, ['old-a', 'old-b']);
    await admin.pExpire(key!, 30 * MINUTE);
    const before = Date.now();
    const listed = await store.listOwnerSessions(owner); // read as a set, unchanged
    expect(listed).toEqual([]);
    expect(await admin.type(key!)).toBe('set');
    const id = await signIn(store, owner);
    expect(await admin.type(key!)).toBe('zset');
    expect(await admin.pTTL(key!)).toBe(-1);
    const entries = Object.fromEntries((await admin.zRangeWithScores(key!, 0, -1)).map((e) => [e.value, e.score]));
    expect(Object.keys(entries).sort()).toEqual(['old-a', 'old-b', id].sort());
    expect(entries['old-a']).toBeGreaterThanOrEqual(before + 30 * MINUTE - 1_000);
    expect(entries['old-a']).toBeLessThanOrEqual(Date.now() + 30 * MINUTE);
    expect(await admin.zScore('sess:owners', owner)).not.toBeNull();
    expect(await store.revokeOwner(owner)).toBe(1);
  });
});
