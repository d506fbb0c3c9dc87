/**
 * An unsubscription that fails while the subscriber connection is down (its session's last waiter left
 * meanwhile) is sent again once the connection is ready (`RedisReleaseWatches.failedDrops`), on node-redis
 * and through `fromIoredis`: the channel of a session nobody waits for does not stay subscribed. Through
 * the ioredis adapter the retry sent nothing (it had forgotten the listener before the command was
 * answered), while ioredis, which forgets a channel only when its unsubscription is answered,
 * subscribed it again at every reconnect: a channel per such session for the life of the process (review R38).
 */
import request from 'supertest';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { reconnectingClient, useRedisServer } from '../support/redis-test-helpers.js';
import { idOf, startSessionApp, type SessionApp } from '../e2e/session-app.js';
import { sessionCookie } from '../support/test-app.js';
import { dropSubscriberWhileLastWaiterLeaves, shardSubscribers } from './subscriber-drop.js';

const redis = useRedisServer();
const apps: SessionApp[] = [];
const closers: (() => unknown)[] = [];
afterAll(async () => {
  for (const a of apps) a.gates.openAll();
  await Promise.all(apps.map((a) => a.app.close()));
  closers.forEach((c) => c());
});

async function instance(kind: 'ioredis' | 'node-redis') {
  const store = new RedisSessionStateStore({
    client: await reconnectingClient(kind, redis.server.port, closers),
    requestTimeoutMs: 300,
    releaseNotifications: { fallbackPollMs: 400 },
  });
  const app = await startSessionApp('express', { store });
  apps.push(app);
  return { ...app, http: app.app.getHttpServer(), raw: store };
}
const clients = async () => Number(/connected_clients:(\d+)/.exec(await redis.admin.info('clients'))![1]);

describe.each(['node-redis', 'ioredis'] as const)('Redis on %s: subscriber dropped (and kept out a moment) while its last waiter leaves', (kind) => {
  it('after the reconnect, the channel of a session nobody waits for is not subscribed (no leak)', async () => {
    const a = await instance(kind);
    const b = await instance(kind);
    const cookie = sessionCookie((await request(a.http).post('/seed').expect(200)).headers)!;
    const channel = `${b.raw.key(idOf(cookie))}:r`;
    // The outage lasts past the waiter a little: ioredis gives up on commands queued while it
    // reconnects after maxRetriesPerRequest (20) attempts (counted by the server's refusals).
    const rejected = async () => Number(/rejected_connections:(\d+)/.exec(await redis.admin.info('stats'))![1]);
    const before = await dropSubscriberWhileLastWaiterLeaves(a, b, cookie, redis.admin, channel, async () => {
      const after = await rejected();
      await vi.waitFor(async () => expect(await rejected()).toBeGreaterThan(after + 25), { timeout: 5000, interval: 20 });
    });
    await vi.waitFor(async () => expect(await clients()).toBe(before), { timeout: 5000 });
    // Whatever the store sends again once the connection is ready has time to land (event: the count settles at 0).
    const left = await vi
      .waitFor(async () => expect(await shardSubscribers(redis.admin, channel)).toBe(0), { timeout: 3000, interval: 100 })
      .then(
        () => 0,
        async () => shardSubscribers(redis.admin, channel),
      );
    expect(left).toBe(0);
  });
});
