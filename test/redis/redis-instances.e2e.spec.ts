import request from 'supertest';
import { RedisSessionStateStore, type RedisSessionStateStoreOptions } from '../../src/redis/index.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { idOf, startSessionApp, type SessionApp } from '../e2e/session-app.js';
import { roundTripsDuring, scriptsDuring, locksLeft, useRedisServer } from '../support/redis-test-helpers.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';

const redis = useRedisServer();

describe.each(ADAPTERS)('the module on a real Redis over %s', (adapter) => {
  const apps: SessionApp[] = [];

  /** An app instance with its own store and client (as another process would have). */
  async function instance(moduleOptions: { executionTimeout?: number } = {}, storeOptions: RedisSessionStateStoreOptions = {}) {
    const store = new RedisSessionStateStore({ url: redis.server.url, ...storeOptions });
    const app = await startSessionApp(adapter, { ...moduleOptions, store });
    apps.push(app);
    return { ...app, http: app.app.getHttpServer(), raw: store };
  }

  afterEach(async () => {
    for (const a of apps) a.gates.openAll();
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
    expect(await locksLeft(redis.admin)).toBe(0);
  });

  const seed = async (http: unknown) =>
    sessionCookie(
      (
        await request(http as never)
          .post('/seed')
          .expect(200)
      ).headers,
    )!;

  const increments = (targets: { http: unknown }[], cookie: string, n = 50) =>
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        request(targets[i % targets.length]!.http as never)
          .post('/count')
          .set('Cookie', cookie)
          .expect(200),
      ),
    );

  it('one instance: 50 concurrent increments end at exactly 50', async () => {
    const a = await instance();
    const cookie = await seed(a.http);
    const answers = await increments([a], cookie);
    expect(answers.map((r) => r.body.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await request(a.http).get('/count').set('Cookie', cookie).expect(200, { count: 50 });
  });

  it('two instances: 50 concurrent increments sent alternately end at exactly 50, waiters woken by the release (no poll could serve them in time)', async () => {
    // A fallback poll of a minute: were a waiter not woken by the published release, this test would time out.
    const slowPoll = { releaseNotifications: { fallbackPollMs: 60_000 } };
    const a = await instance({}, slowPoll);
    const b = await instance({}, slowPoll);
    const cookie = await seed(a.http);
    const answers = await increments([a, b], cookie);
    expect(answers.map((r) => r.body.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await request(b.http).get('/count').set('Cookie', cookie).expect(200, { count: 50 });
    // The one lock check a waiter makes without a release (its fallback) never came: every wait ended by a release.
    expect(a.counter.calls.probeLock ?? 0).toBe(0);
    expect(b.counter.calls.probeLock ?? 0).toBe(0);
  });

  it('round trips per request: read-write 2 (a script each), read-only 1 (a plain HMGET), session-less 0', async () => {
    const a = await instance();
    const cookie = await seed(a.http);
    await request(a.http).post('/count').set('Cookie', cookie).expect(200); // the scripts are cached from here on
    const sent = (send: () => Promise<unknown>) => roundTripsDuring(redis.server.url, send);
    expect(await sent(() => request(a.http).post('/count').set('Cookie', cookie).expect(200))).toEqual({ evalsha: 2 });
    expect(await sent(() => request(a.http).get('/count').set('Cookie', cookie).expect(200))).toEqual({ hmget: 1 });
    expect(await sent(() => request(a.http).get('/free').set('Cookie', cookie).expect(200))).toEqual({});
  });

  it('a script the server does not know (SCRIPT FLUSH, a restart) is sent once by EVAL, then EVALSHA again', async () => {
    const a = await instance();
    const cookie = await seed(a.http);
    await redis.admin.scriptFlush();
    const calls = await scriptsDuring(redis.admin, () => request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 }));
    expect(calls).toEqual({ evalsha: 2, eval: 2 });
    expect(await scriptsDuring(redis.admin, () => request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 2 }))).toEqual({
      evalsha: 2,
    });
  });

  it('a lock broken as stale by another instance fences out its old holder with a 409; the new data stays', async () => {
    const a = await instance({ executionTimeout: 0.3 });
    const b = await instance({ executionTimeout: 0.3 });
    const cookie = await seed(a.http);
    const stuck = request(a.http)
      .post('/count?gate=stuck')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('stuck');
    await request(b.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    a.gates.open('stuck');
    expect((await stuck).status).toBe(409);
    const stored = flat(await b.raw.getItem(idOf(cookie)));
    expect(stored.locked).toBe(false);
    expect(JSON.parse(stored.item!.items).count).toBe(1);
  });

  it('a holder that died with the lock: waiters of another instance (watching for a release that never comes) break it once stale, by the fallback check', async () => {
    const b = await instance({ executionTimeout: 0.3 }, { releaseNotifications: { fallbackPollMs: 100 } });
    const cookie = await seed(b.http);
    // A crashed process's lock: taken, never released.
    const crashed = new RedisSessionStateStore({ url: redis.server.url });
    await crashed.init();
    expect((await crashed.getItemExclusive(idOf(cookie))).kind).toBe('acquired');
    await crashed.close();
    const started = Date.now();
    const [write, read] = await Promise.all([
      request(b.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 }),
      request(b.http).get('/count').set('Cookie', cookie).expect(200),
    ]);
    expect(write.body).toEqual({ count: 1 });
    expect([0, 1]).toContain(read.body.count);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('read-only requests slide the expiry only once over half of the timeout has elapsed; saves set the key TTL to the timeout', async () => {
    let offsetMs = 0;
    const a = await instance({}, { clock: () => Date.now() + offsetMs, ttlExtraSeconds: 0 });
    offsetMs = -11 * 60_000; // written "11 minutes ago": 9 of its 20 minutes left
    const cookie = await seed(a.http);
    const key = a.raw.key(idOf(cookie));
    expect(await redis.admin.pTTL(key)).toBeGreaterThan(20 * 60_000 - 5_000);
    offsetMs = 0;
    a.counter.reset();
    await request(a.http).get('/count').set('Cookie', cookie).expect(200);
    expect(a.counter.calls).toEqual({ getItem: 1, resetItemTimeout: 1 });
    expect(Number(await redis.admin.hGet(key, 'e'))).toBeGreaterThan(Date.now() + 19 * 60_000);
    a.counter.reset();
    await request(a.http).get('/count').set('Cookie', cookie).expect(200);
    expect(a.counter.calls).toEqual({ getItem: 1 });
  });
});

describe('expiry by Redis TTL', () => {
  it('Redis drops an expired session key by itself (keyspace notification), and the store reads it as absent before that', async () => {
    const store = new RedisSessionStateStore({ url: redis.server.url, ttlExtraSeconds: 0 });
    await store.init();
    const listener = redis.admin.duplicate();
    await listener.connect();
    try {
      await redis.admin.configSet('notify-keyspace-events', 'Ex');
      const id = `ttl-${Date.now()}`;
      const expired = new Promise<void>(
        (resolve) =>
          void listener.subscribe('__keyevent@0__:expired', (key) => {
            if (key === store.key(id)) resolve();
          }),
      );
      await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 0.005 }, null, true); // 300 ms
      expect(flat(await store.getItem(id)).item).toEqual({ items: '{"n":1}', timeout: 0.005 });
      await expired;
      expect(await redis.admin.exists(store.key(id))).toBe(0);
      expect(flat(await store.getItem(id)).kind).toBe('absent');
    } finally {
      await redis.admin.configSet('notify-keyspace-events', '');
      listener.destroy();
      await store.close();
    }
  });
});
