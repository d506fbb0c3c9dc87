/**
 * Found by review R2 (branch review2, redis-owner-index-evicted): under maxmemory with an LRU policy
 * (volatile-lru: AWS ElastiCache's default), the owner index was the idlest key with a TTL of a
 * signed-in user, so Redis evicted it before the owner's busy sessions and sign-out-everywhere then
 * ended none of them. The index and the cap book now have no TTL: no volatile-* policy may evict them
 * while a session of their owner lives (the store's sweep deletes them once none does).
 */
import { createClient, type RedisClientType } from 'redis';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let admin: RedisClientType;
let store: RedisSessionStateStore;

beforeAll(async () => {
  server = await startRedisServer(['--maxmemory-policy', 'volatile-lru', '--maxmemory-samples', '10']);
  admin = createClient({ url: server.url });
  await admin.connect();
  store = new RedisSessionStateStore({ url: server.url });
  await store.init();
});
afterAll(async () => {
  await admin?.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']).catch(() => undefined);
  await store?.close();
  admin?.destroy();
  await server?.stop();
});

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);

describe('Redis eviction (volatile-lru) and sign-out everywhere', () => {
  it("the owner index and cap book outlast the owner's busy sessions under volatile-lru: revokeOwner ends every live one", async () => {
    const owner = '7';
    const ids = ['evict-owner-a-aaaaaaaaaaaaaaaaaaaaaa', 'evict-owner-b-aaaaaaaaaaaaaaaaaaaaaa', 'evict-owner-c-aaaaaaaaaaaaaaaaaaaaaa'];
    for (const id of ids) {
      const claim = { owner, id, max: 5, policy: 'refuse' as const, pendingMs: 110_000, keepMs: 20 * 60_000 };
      expect(await store.claimOwnerSlot(claim)).toMatchObject({ admitted: true });
      await store.setAndReleaseItemExclusive(id, { items: '{"passport":{"user":7}}', timeout: 20, owner }, null, true);
    }
    const ownerKey = 'sess:owner:{7}';
    const bookKey = 'sess:owner:{7}:cap';
    expect((await admin.zRange(ownerKey, 0, -1)).sort()).toEqual([...ids].sort());
    expect([await admin.pTTL(ownerKey), await admin.pTTL(bookKey)]).toEqual([-1, -1]);
    // The user keeps using the sessions (each request locks and releases) while the index and book sit
    // idle: until Redis's LRU clock (1 s resolution) sees them as the idlest keys.
    for (;;) {
      for (const id of ids) await store.releaseItemExclusive(id, flat(await store.getItemExclusive(id)).lockId!);
      const idle = Math.min(
        ...(await Promise.all([ownerKey, bookKey].map(async (key) => Number(await admin.sendCommand(['OBJECT', 'IDLETIME', key]))))),
      );
      if (idle >= 2) break;
      await new Promise((r) => setTimeout(r, 100)); // polling a condition of the server's clock
    }
    // Memory runs short, a little at a time, until Redis has evicted a key of this owner's.
    const keys = [ownerKey, bookKey, ...ids.map((id) => store.key(id))];
    let limit = (await usedMemory()) + 200_000;
    while ((await admin.exists(keys)) === keys.length && limit > 0) {
      limit -= 64;
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', String(limit)]);
      await admin.sendCommand(['PING']);
    }
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    const kinds = await Promise.all(ids.map(async (id) => (await store.getItem(id)).kind));
    // What eviction took: a session (the only keys with a TTL), never the index or the book.
    expect({ index: await admin.exists(ownerKey), book: await admin.exists(bookKey), evicted: kinds.filter((k) => k === 'absent').length }).toEqual({
      index: 1,
      book: 1,
      evicted: 1,
    });
    // Sign out everywhere (a stolen password): ends every session still live.
    const revoked = await store.revokeOwner(owner);
    const after = await Promise.all(ids.map(async (id) => (await store.getItem(id)).kind));
    expect({ revoked, after }).toEqual({ revoked: 2, after: ['absent', 'absent', 'absent'] });
  });
});
