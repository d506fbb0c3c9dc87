/**
 * Permissions refused part way: a save whose release announcement is denied (no SPUBLISH/PUBLISH)
 * still renews the session's TTL (the scripts renew before they announce), and an ioredis client
 * whose subscription was refused subscribes for real when asked again (no listener left behind
 * that would make the adapter believe the channel subscribed).
 */
import { Redis } from 'ioredis';
import { createClient, type RedisClientType } from 'redis';
import { fromIoredis, RedisSessionStateStore } from '../../src/redis/index.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

const BASE =
  '+evalsha +eval +hmget +hset +hdel +del +pexpire +pttl +type +persist +zadd +zrem +zscore +zcard +zrange +zrangebyscore +zremrangebyscore +smembers +srem +ssubscribe +sunsubscribe +ping +hello'.split(
    ' ',
  );

let server: RedisServer;
let admin: RedisClientType;
beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  await admin.connect();
  await admin.sendCommand(['ACL', 'SETUSER', 'no-publish', 'reset', 'on', '>pw', '~sess:*', '&sess:*', ...BASE]);
  await admin.sendCommand(['ACL', 'SETUSER', 'no-channel', 'reset', 'on', '>pw', '~sess:*', '&other:*', ...BASE, '+spublish']);
});
afterAll(async () => {
  admin?.destroy();
  await server?.stop();
});

describe('Redis permissions refused part way', () => {
  it('a save whose release announcement is denied has still renewed the TTL', async () => {
    // First saved with a 12-minute timeout: the key's TTL, and the horizon the store recorded for it,
    // fall short of what the next save (20 minutes) needs, so that save renews the TTL (a save
    // renews it only when that horizon says so).
    const store = new RedisSessionStateStore({ url: `redis://no-publish:pw@127.0.0.1:${server.port}`, releaseNotifications: false });
    await store.init();
    try {
      const id = 'acl-publish-aaaaaaaaaaaaaaaaaaaaaaa';
      await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 12 }, null, true);
      const { lockId } = flat(await store.getItemExclusive(id));
      expect((await store.getItem(id)).kind).toBe('locked'); // marks the lock as waited for: its release announces
      await admin.pExpire(store.key(id), 5_000);
      await expect(store.setAndReleaseItemExclusive(id, { items: '{"n":2}', timeout: 20 }, lockId, false)).rejects.toThrow();
      expect(await admin.pTTL(store.key(id))).toBeGreaterThan(20 * 60_000);
      expect(flat(await store.getItem(id)).item?.items).toBe('{"n":2}');
    } finally {
      await store.close();
    }
  });

  it('fromIoredis: a subscription refused, then allowed, is subscribed when asked again', async () => {
    const ioredis = new Redis(server.port, '127.0.0.1', { username: 'no-channel', password: 'pw', lazyConnect: true });
    await ioredis.connect();
    const client = fromIoredis(ioredis) as unknown as {
      sSubscribe(channel: string, listener: () => void): Promise<void>;
    };
    const channel = 'sess:{acl-channel-aaaaaaaaaaaaaaaaaaaaaa}:r';
    try {
      await expect(client.sSubscribe(channel, () => undefined)).rejects.toThrow(/NOPERM|permission/i);
      await admin.sendCommand(['ACL', 'SETUSER', 'no-channel', '&sess:*']);
      let delivered!: () => void;
      const received = new Promise<void>((resolve) => (delivered = resolve));
      await client.sSubscribe(channel, () => delivered());
      expect(await admin.sendCommand(['SPUBLISH', channel, 'r'])).toBe(1);
      await received;
    } finally {
      ioredis.disconnect();
    }
  });
});
