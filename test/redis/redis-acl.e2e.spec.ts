import { createClient, type RedisClientType } from 'redis';
import request from 'supertest';
import { SessionStateStoreMisconfiguredError } from '../../src/errors/session-state.errors.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { startSessionApp, type SessionApp } from '../e2e/session-app.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { sessionCookie } from '../support/test-app.js';

/** The permissions docs/REDIS.md gives (see the design note in redis-session-state.store.ts). */
const DOCUMENTED: string[] = [
  'on',
  '>app-password',
  '~sess:*',
  '&sess:*',
  ...'+evalsha +eval +hmget +hset +hdel +del +pexpire +pttl +sadd +srem +smembers +spublish +publish +ssubscribe +sunsubscribe +ping +hello'.split(
    ' ',
  ),
];

let server: RedisServer;
let admin: RedisClientType;
beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  await admin.connect();
  await admin.sendCommand(['ACL', 'SETUSER', 'app', 'reset', ...DOCUMENTED]);
  const withoutSubscribe = DOCUMENTED.filter((p) => p !== '+ssubscribe' && p !== '+sunsubscribe' && p !== '>app-password');
  await admin.sendCommand(['ACL', 'SETUSER', 'no-subscribe', 'reset', '>pw2', ...withoutSubscribe]);
  await admin.sendCommand(['ACL', 'SETUSER', 'readonly-app', 'reset', 'on', '>pw', '~sess:*', '&sess:*', '+hello', '+ping', '+hmget']);
});
afterAll(async () => {
  admin?.destroy();
  await server?.stop();
});

describe('Redis ACL', () => {
  const apps: SessionApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
  });

  it('a user with only the documented permissions runs every store call: sessions, waits woken by the release across instances, owners and revocation, health', async () => {
    const options = { url: `redis://app:app-password@127.0.0.1:${server.port}`, releaseNotifications: { fallbackPollMs: 60_000 } };
    const a = await startSessionApp('express', { store: new RedisSessionStateStore(options) });
    const b = await startSessionApp('fastify', { store: new RedisSessionStateStore(options) });
    apps.push(a, b);
    const [httpA, httpB] = [a.app.getHttpServer(), b.app.getHttpServer()];
    const cookie = sessionCookie((await request(httpA).post('/seed').expect(200)).headers)!;
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        request(i % 2 ? httpB : httpA)
          .post('/count')
          .set('Cookie', cookie)
          .expect(200),
      ),
    );
    await request(httpB).get('/count').set('Cookie', cookie).expect(200, { count: 10 });

    const store = new RedisSessionStateStore(options);
    await store.init();
    try {
      await store.setAndReleaseItemExclusive('acl-owned', { items: '{}', timeout: 20, owner: 'ann' }, null, true);
      expect(flat(await store.getItem('acl-owned')).item?.owner).toBe('ann');
      const { lockId } = flat(await store.getItemExclusive('acl-owned'));
      expect(await store.probeLock('acl-owned')).toMatchObject({ lockId });
      await store.resetItemTimeout('acl-owned');
      expect(await store.releaseItemExclusive('acl-owned', lockId!)).toBe(true);
      expect(await store.revokeOwner('ann')).toBe(1);
      expect(await store.checkHealth()).toEqual({ up: true });
    } finally {
      await store.close();
    }
  });

  it('a user that may not subscribe: waiters of other instances fall back to polling, and every request is still served', async () => {
    const options = { url: `redis://no-subscribe:pw2@127.0.0.1:${server.port}` };
    const a = await startSessionApp('express', { store: new RedisSessionStateStore(options) });
    const b = await startSessionApp('fastify', { store: new RedisSessionStateStore(options) });
    apps.push(a, b);
    const [httpA, httpB] = [a.app.getHttpServer(), b.app.getHttpServer()];
    const cookie = sessionCookie((await request(httpA).post('/seed').expect(200)).headers)!;
    const holder = request(httpA)
      .post('/count?gate=hold')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('hold');
    const sawLock = b.counter.next('getItemExclusive', (answer) => (answer as { kind: string }).kind === 'locked');
    const waiter = request(httpB)
      .post('/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await sawLock;
    await b.counter.next('probeLock'); // polling: the subscription was refused
    a.gates.open('hold');
    expect((await holder).status).toBe(200);
    expect((await waiter).body).toEqual({ count: 2 });
  });

  it('a user without them: SessionStateStoreMisconfiguredError that names what the store needs', async () => {
    const store = new RedisSessionStateStore({ url: `redis://readonly-app:pw@127.0.0.1:${server.port}` });
    await store.init();
    try {
      const error = await store.getItemExclusive('acl-refused').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionStateStoreMisconfiguredError);
      expect((error as Error).message).toMatch(/NOPERM.*EVALSHA/);
    } finally {
      await store.close();
    }
  });
});
