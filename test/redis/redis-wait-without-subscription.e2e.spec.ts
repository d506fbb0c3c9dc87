/**
 * A waiter whose store cannot subscribe to its session's releases (an ACL user without `+ssubscribe`, a
 * subscriber connection kept out) checks the lock at the fallback pace, as after a lost message, not at
 * the module's `lockWait` pace (5 ms doubling to 50 ms: 20 to 40 times as many probes); and once the
 * subscriber is back it subscribes again and is woken by the release (review R38; docs/REDIS.md, "ACL").
 */
import request from 'supertest';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { idOf, startSessionApp, type SessionApp } from '../e2e/session-app.js';
import { useRedisServer } from '../support/redis-test-helpers.js';
import { sessionCookie } from '../support/test-app.js';
import { shardSubscribers } from './subscriber-drop.js';

/** docs/REDIS.md's ACL, without `+ssubscribe` / `+sunsubscribe`. */
const WITHOUT_SUBSCRIBE =
  '+evalsha +eval +hmget +hset +hdel +del +pexpire +pttl +type +persist +zadd +zrem +zscore +zcard +zrange +zrangebyscore +zremrangebyscore +smembers +srem +spublish +publish +ping +hello'.split(
    ' ',
  );
const FALLBACK_POLL_MS = 400; // a pause of 200–400 ms; lockWait's is at most 50 ms

const redis = useRedisServer();
const apps: SessionApp[] = [];
beforeAll(async () => {
  await redis.admin.sendCommand(['ACL', 'SETUSER', 'no-subscribe', 'reset', 'on', '>pw', '~sess:*', '&sess:*', ...WITHOUT_SUBSCRIBE]);
});
afterEach(async () => {
  for (const app of apps) app.gates.openAll();
  await Promise.all(apps.splice(0).map((app) => app.app.close()));
  await redis.admin.configSet('maxclients', '10000');
});

const clientCount = async () => Number(/connected_clients:(\d+)/.exec(await redis.admin.info('clients'))![1]);

async function twoInstances(options: ConstructorParameters<typeof RedisSessionStateStore>[0]) {
  const a = await startSessionApp('express', { store: new RedisSessionStateStore(options) });
  const store = new RedisSessionStateStore(options);
  const b = await startSessionApp('express', { store });
  apps.push(a, b);
  const cookie = sessionCookie((await request(a.app.getHttpServer()).post('/seed').expect(200)).headers)!;
  return { a, b, store, cookie };
}

/** `a` holds the session of `cookie` (parked at `gate`); `b`'s request waits for it. */
async function holdAndWait(a: SessionApp, b: SessionApp, cookie: string, gate: string) {
  const holder = request(a.app.getHttpServer())
    .post(`/count?gate=${gate}`)
    .set('Cookie', cookie)
    .then((res) => res);
  await a.gates.arrived(gate);
  const locked = b.counter.next('getItemExclusive', (answer) => (answer as { kind: string }).kind === 'locked');
  const waiter = request(b.app.getHttpServer())
    .post('/count')
    .set('Cookie', cookie)
    .then((res) => res);
  await locked;
  return { holder, waiter };
}

/** The time between the waiter's next two lock checks (its `probeLock` calls), ms. */
async function checkInterval(b: SessionApp): Promise<number> {
  await b.counter.next('probeLock');
  const first = performance.now();
  await b.counter.next('probeLock');
  return performance.now() - first;
}

describe('Redis: a waiter that cannot subscribe to its session’s releases', () => {
  it('an ACL user without +ssubscribe: the waiter checks the lock at the fallback pace, and is served once the holder lets go', async () => {
    const { a, b, cookie } = await twoInstances({
      url: `redis://no-subscribe:pw@127.0.0.1:${redis.server.port}`,
      releaseNotifications: { fallbackPollMs: FALLBACK_POLL_MS },
    });
    const { holder, waiter } = await holdAndWait(a, b, cookie, 'hold');
    for (let i = 0; i < 3; i++) expect(await checkInterval(b)).toBeGreaterThanOrEqual(FALLBACK_POLL_MS / 2 - 5);
    a.gates.open('hold');
    expect((await holder).body).toEqual({ count: 1 });
    expect((await waiter).body).toEqual({ count: 2 });
  });

  it('a subscriber kept out while the waiter starts: it checks at the fallback pace, subscribes again once the subscriber is back, and is woken by the release', async () => {
    const { a, b, store, cookie } = await twoInstances({
      url: redis.server.url,
      clientOptions: { socket: { reconnectStrategy: () => 20 } },
      requestTimeoutMs: 300,
      releaseNotifications: { fallbackPollMs: FALLBACK_POLL_MS },
    });
    const channel = `${store.key(idOf(cookie))}:r`;
    // b's subscriber connection is opened by a first wait, then dropped and kept out (maxclients).
    const warm = sessionCookie((await request(a.app.getHttpServer()).post('/seed').expect(200)).headers)!;
    const first = await holdAndWait(a, b, warm, 'warm');
    await vi.waitFor(async () => expect(await shardSubscribers(redis.admin, `${store.key(idOf(warm))}:r`)).toBe(1));
    const clients = await clientCount();
    await redis.admin.configSet('maxclients', String(clients - 1));
    await redis.admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    a.gates.open('warm');
    expect((await first.holder).status).toBe(200);
    expect((await first.waiter).body).toEqual({ count: 2 }); // by the fallback check
    // A waiter now: its subscription is not confirmed (requestTimeoutMs); it checks at the fallback pace.
    const { holder, waiter } = await holdAndWait(a, b, cookie, 'hold');
    expect(await checkInterval(b)).toBeGreaterThanOrEqual(FALLBACK_POLL_MS / 2 - 5);
    // The subscriber is let back in: the waiter subscribes again (after the store's pause after a failure).
    await redis.admin.configSet('maxclients', '10000');
    await vi.waitFor(async () => expect(await shardSubscribers(redis.admin, channel)).toBe(1), { timeout: 10_000, interval: 50 });
    // Woken by the release: it takes the lock with no check (probe) in between.
    b.counter.reset();
    a.gates.open('hold');
    expect((await holder).body).toEqual({ count: 1 });
    expect((await waiter).body).toEqual({ count: 2 });
    expect(b.counter.calls.probeLock ?? 0).toBe(0);
  }, 20_000);
});
