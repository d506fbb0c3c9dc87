/**
 * Review: docs/REDIS.md recommends `noeviction` ("writes then fail with OOM: 503, and reads go on").
 * Under OOM the scripts fail on their first denied write: the `HSET w` mark makes a read (and a
 * probe) of a *locked* session fail with 503 instead of answering `locked`; and RELEASE's `HSET e`
 * comes before its `HDEL l d w`, so a holder cannot release its lock at all (HDEL and DEL are not
 * deny-OOM commands; once a script has written, later writes are allowed): the session stays locked.
 * Fix: src/redis/redis-scripts.ts: mark `w` with redis.pcall (best effort) in locked(); in RELEASE
 * (and SAVE's release part) drop the lock fields (HDEL) first, then slide.
 */
import { createClient, type RedisClientType } from 'redis';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let admin: RedisClientType;
let store: RedisSessionStateStore;

beforeAll(async () => {
  server = await startRedisServer(['--maxmemory-policy', 'noeviction']);
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

describe('review: Redis at maxmemory with noeviction', () => {
  it('a read of a locked session still answers locked (reads go on), and its holder can still release the lock', async () => {
    const id = 'review-oom-aaaaaaaaaaaaaaaaaaaaaaa';
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
    const { lockId } = flat(await store.getItemExclusive(id));
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
    try {
      const read = await store.getItem(id).then(
        (r) => r.kind,
        (e: Error) => `${e.constructor.name}: ${e.message}`,
      );
      const released = await store.releaseItemExclusive(id, lockId!).then(
        (r) => r,
        (e: Error) => `${e.constructor.name}: ${e.message}`,
      );
      expect({ read, released }).toEqual({ read: 'locked', released: true });
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    }
  });
});
