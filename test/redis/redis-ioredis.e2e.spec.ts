import { Redis } from 'ioredis';
import { fromIoredis, RedisSessionStateStore } from '../../src/redis/index.js';
import { describeSessionStateStoreConformance } from '../../src/testing/index.js';
import { startSessionApp, type SessionApp } from '../e2e/session-app.js';
import { expectFiftyAlternatingWrites } from './alternating-writes.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let ioredis: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  ioredis = new Redis(server.port, '127.0.0.1', { lazyConnect: true });
  await ioredis.connect();
});
afterAll(async () => {
  ioredis?.disconnect();
  await server?.stop();
});

describeSessionStateStoreConformance('RedisSessionStateStore on an ioredis client (fromIoredis)', {
  create: (clock) => new RedisSessionStateStore({ client: fromIoredis(ioredis), clock }),
  destroy: (store) => (store as RedisSessionStateStore).close(),
  movedMarkers: true,
});

describe('an ioredis instance beside a node-redis one', () => {
  const apps: SessionApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
  });

  it('50 concurrent increments sent alternately end at exactly 50, waiters on both woken by the release', async () => {
    const slowPoll = { releaseNotifications: { fallbackPollMs: 60_000 } };
    const a = await startSessionApp('express', { store: new RedisSessionStateStore({ client: fromIoredis(ioredis), ...slowPoll }) });
    const b = await startSessionApp('fastify', { store: new RedisSessionStateStore({ url: server.url, ...slowPoll }) });
    apps.push(a, b);
    await expectFiftyAlternatingWrites(a, b);
  });
});
