import { Logger } from '@nestjs/common';
import { createClient } from 'redis';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

/**
 * An LRU policy evicts an owner's index (idle between logins) before the owner's busy sessions,
 * hiding them from revokeOwner (found by a review, reproduced with volatile-lru). The index and the cap
 * book have no TTL now, so the volatile-* policies never evict them (redis-owner-index-eviction); an
 * allkeys-* policy still may, and the store's startup reads the policy and says so.
 */
const warnings = async (serverArgs: string[], options: { user?: string } = {}): Promise<string[]> => {
  const server: RedisServer = await startRedisServer(serverArgs);
  const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  let url = server.url;
  if (options.user) {
    const admin = createClient({ url: server.url });
    await admin.connect();
    await admin.sendCommand(['ACL', 'SETUSER', options.user, 'on', '>pw', '~sess:*', '&sess:*', '+@all', '-info']);
    admin.destroy();
    url = `redis://${options.user}:pw@127.0.0.1:${server.port}`;
  }
  const store = new RedisSessionStateStore({ url });
  try {
    await store.init();
    return warn.mock.calls.map(([message]) => String(message)).filter((message) => message.includes('maxmemory'));
  } finally {
    warn.mockRestore();
    await store.close();
    await server.stop();
  }
};

describe('Redis store startup: an eviction policy is warned about', () => {
  it('allkeys-lru at a set maxmemory: one warning naming the policy and what it breaks', async () => {
    const said = await warnings(['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru']);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/maxmemory-policy allkeys-lru\).*revokeOwner.*Use a volatile-\* policy or noeviction/);
  });

  it('allkeys-lfu likewise', async () => {
    expect(await warnings(['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lfu'])).toHaveLength(1);
  });

  it('volatile-lru, volatile-lfu, volatile-ttl (they never evict the owner keys, which have no TTL), noeviction, or no maxmemory: nothing said', async () => {
    for (const policy of ['volatile-lru', 'volatile-lfu', 'volatile-ttl', 'noeviction']) {
      expect(await warnings(['--maxmemory', '100mb', '--maxmemory-policy', policy])).toEqual([]);
    }
    expect(await warnings(['--maxmemory-policy', 'allkeys-lru'])).toEqual([]);
  });

  it('a user that may not run INFO: startup passes, nothing said', async () => {
    expect(await warnings(['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru'], { user: 'app' })).toEqual([]);
  });
});
