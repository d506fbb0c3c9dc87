/**
 * Redis at maxmemory under `noeviction` (docs/REDIS.md recommends it: writes fail with OOM, reads go
 * on). A script's first deny-OOM write is refused; HDEL and DEL are not deny-OOM, and once a script
 * has written, its later writes are allowed. So: the `w` mark of a locked session is best effort (a
 * read or probe still answers locked), RELEASE drops the lock fields before it slides, and a save is
 * refused with nothing written (503) while its release still frees the lock.
 */
import { createClient, type RedisClientType } from 'redis';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
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

describe('RedisSessionStateStore: Redis at maxmemory with noeviction', () => {
  it('a read of a locked session still answers locked (reads go on), and its holder can still release the lock', async () => {
    const id = 'oom-read-aaaaaaaaaaaaaaaaaaaaaaaaa';
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
    const { lockId } = flat(await store.getItemExclusive(id));
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
    try {
      const read = await store.getItem(id).then(
        (r) => r.kind,
        (e: Error) => `${e.constructor.name}: ${e.message}`,
      );
      const probed = await store.probeLock(id).then(
        (r) => r?.kind,
        (e: Error) => `${e.constructor.name}: ${e.message}`,
      );
      const released = await store.releaseItemExclusive(id, lockId!).then(
        (r) => r,
        (e: Error) => `${e.constructor.name}: ${e.message}`,
      );
      expect({ read, probed, released }).toEqual({ read: 'locked', probed: 'locked', released: true });
      expect(await admin.hmGet(store.key(id), ['l', 'd', 'w'])).toEqual([null, null, null]);
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    }
  });

  it('a save is refused with nothing written (503), and the release after it frees the lock', async () => {
    const id = 'oom-save-aaaaaaaaaaaaaaaaaaaaaaaaa';
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
    const { lockId } = flat(await store.getItemExclusive(id));
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
    try {
      await expect(store.setAndReleaseItemExclusive(id, { items: '{"n":2}', timeout: 20 }, lockId, false)).rejects.toBeInstanceOf(
        SessionStateStoreUnavailableError,
      );
      expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    }
    const read = flat(await store.getItem(id));
    expect(read.item?.items).toBe('{"n":1}');
  });
});
