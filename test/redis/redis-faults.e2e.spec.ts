import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type RedisClientType } from 'redis';
import request from 'supertest';
import { RedisSessionStateStore, type RedisSessionStateStoreOptions } from '../../src/redis/index.js';
import { idOf, startSessionApp, type SessionApp } from '../e2e/session-app.js';
import { locksLeft } from '../support/redis-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';

let server: RedisServer;
let admin: RedisClientType;
beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url, socket: { reconnectStrategy: () => 20 } });
  admin.on('error', () => {});
  await admin.connect();
});
afterAll(async () => {
  admin?.destroy();
  await server?.stop();
});

describe.each(ADAPTERS)('Redis faults over %s', (adapter) => {
  const apps: SessionApp[] = [];
  async function instance(storeOptions: RedisSessionStateStoreOptions = {}) {
    const store = new RedisSessionStateStore({
      url: server.url,
      // Reconnect soon after the server is back.
      clientOptions: { socket: { reconnectStrategy: () => 20 } },
      requestTimeoutMs: 300,
      ...storeOptions,
    });
    const app = await startSessionApp(adapter, { store });
    apps.push(app);
    return { ...app, http: app.app.getHttpServer(), raw: store };
  }
  afterEach(async () => {
    for (const a of apps) a.gates.openAll();
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
  });
  const seed = async (http: unknown) =>
    sessionCookie(
      (
        await request(http as never)
          .post('/seed')
          .expect(200)
      ).headers,
    )!;

  it('server killed and restarted mid-load: every request answers (200, or 503 while it is down) within a bound, and once it is back no lock is left and sessions work', async () => {
    const a = await instance();
    const b = await instance();
    const cookie = await seed(a.http);
    const started = Date.now();
    const load = Array.from({ length: 40 }, (_, i) =>
      request((i % 2 ? b : a).http)
        .post('/count')
        .set('Cookie', cookie)
        .then((r) => ({ status: r.status, at: Date.now() })),
    );
    // Kill it once some of them went through.
    await a.counter.next('setAndReleaseItemExclusive');
    await server.kill();
    const killedAt = Date.now();
    const answers = await Promise.all(load);
    expect(new Set(answers.map((r) => r.status))).toEqual(new Set([200, 503]));
    expect(answers.filter((r) => r.status === 503).length).toBeGreaterThan(0);
    // No hang: the last answer came within a few request timeouts of the kill.
    expect(Math.max(...answers.map((r) => r.at)) - killedAt).toBeLessThan(3_000);
    expect(Date.now() - started).toBeLessThan(10_000);

    await server.restart();
    await admin.ping(); // the admin client reconnected
    // Without persistence the restarted server is empty: no lock, and the old cookie starts a new session.
    expect(await locksLeft(admin)).toBe(0);
    await vi.waitFor(() => expect(a.raw.client.isReady && b.raw.client.isReady).toBe(true));
    const fresh = sessionCookie((await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 })).headers)!;
    expect(fresh).not.toBe(cookie);
    await request(b.http).post('/count').set('Cookie', fresh).expect(200, { count: 2 });
    expect(await locksLeft(admin)).toBe(0);
  });

  it('with persistence (AOF), killed mid-load: the locks held when it died are released once it is back, not left until stale; the data survives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redis-aof-'));
    const persistent = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always'], dir);
    const check = createClient({ url: persistent.url, socket: { reconnectStrategy: () => 20 } });
    check.on('error', () => {});
    try {
      await check.connect();
      const a = await instance({ url: persistent.url });
      const b = await instance({ url: persistent.url });
      const cookie = await seed(a.http);
      // Handlers parked at a gate hold the lock (one per instance: the other waits) when the server dies.
      const held = request(a.http)
        .post('/count?gate=held')
        .set('Cookie', cookie)
        .then((r) => r);
      await a.gates.arrived('held');
      await persistent.kill();
      a.gates.open('held');
      expect((await held).status).toBe(503);
      await persistent.restart();
      await check.ping();
      // The lock survived in the AOF, and the store releases it as soon as Redis answers again.
      await vi.waitFor(async () => expect(await locksLeft(check)).toBe(0), { timeout: 3_000, interval: 50 });
      await vi.waitFor(() => expect(b.raw.client.isReady).toBe(true));
      await request(b.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    } finally {
      check.destroy();
      await persistent.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a slow server (CLIENT PAUSE): requests answer 503 after the request timeout, never hang; a lock the late script took is released behind it', async () => {
    const a = await instance();
    const cookie = await seed(a.http);
    await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    const pauser = admin.duplicate();
    await pauser.connect();
    try {
      await pauser.sendCommand(['CLIENT', 'PAUSE', '1000', 'ALL']);
      const before = Date.now();
      const slow = await request(a.http).post('/count').set('Cookie', cookie);
      expect(slow.status).toBe(503);
      expect(Date.now() - before).toBeLessThan(900);
      // Once the pause ends the late lock script runs, and the release sent behind it right after.
      await admin.ping();
      await vi.waitFor(async () => expect(await locksLeft(admin)).toBe(0));
      await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
    } finally {
      pauser.destroy();
    }
  });

  it('a dropped pub/sub connection: a waiter on another instance is still served by the fallback poll, then notifications resume', async () => {
    const a = await instance({ releaseNotifications: { fallbackPollMs: 1000 } });
    const b = await instance({ releaseNotifications: { fallbackPollMs: 1000 } });
    const cookie = await seed(a.http);
    const holder = request(a.http)
      .post('/count?gate=hold')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('hold');
    const sawLock = b.counter.next('getItemExclusive', (answer) => (answer as { kind: string }).kind === 'locked');
    const waiter = request(b.http)
      .post('/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await sawLock;
    const subscribers = async () =>
      ((await admin.sendCommand(['PUBSUB', 'SHARDNUMSUB', `${b.raw.key(idOf(cookie))}:r`])) as unknown as [string, number])[1];
    await vi.waitFor(async () => expect(await subscribers()).toBe(1));
    // No new connection is accepted, and the subscriber's is killed: the release's message is lost for sure.
    const connected = Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))![1]);
    await admin.configSet('maxclients', String(connected - 1));
    try {
      await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
      b.counter.reset();
      a.gates.open('hold');
      expect((await holder).status).toBe(200);
      const served = await waiter;
      expect(served.status).toBe(200);
      expect(served.body).toEqual({ count: 2 });
      expect(b.counter.calls.probeLock).toBeGreaterThanOrEqual(1); // found by the fallback poll
    } finally {
      await admin.configSet('maxclients', '10000');
    }
    // The subscriber reconnects and resubscribes: the next wait is woken by the release again, before any fallback check.
    const second = request(a.http)
      .post('/count?gate=again')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('again');
    const sawLockAgain = b.counter.next('getItemExclusive', (answer) => (answer as { kind: string }).kind === 'locked');
    const secondWaiter = request(b.http)
      .post('/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await sawLockAgain;
    await vi.waitFor(async () => expect(await subscribers()).toBe(1));
    b.counter.reset();
    a.gates.open('again');
    expect((await second).status).toBe(200);
    expect((await secondWaiter).body).toEqual({ count: 4 });
    expect(b.counter.calls.probeLock ?? 0).toBe(0);
  });
});
