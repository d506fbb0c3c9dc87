/**
 * A login's removal of the old id whose answer is lost on an ioredis connection. ioredis resends
 * unfulfilled commands after it reconnects (`autoResendUnfulfilledCommands`, true by default): the
 * REMOVE script, applied once, runs again and finds the old id gone (item_gone). The marker the first
 * run left says the removal landed, so the login completes under its new id. (Review R10: the login
 * was taken for "revoked meanwhile", the copy removed too, and the session lost under both ids.)
 * The fault (a connection dropped between the script's execution and its reply) is made by a real
 * TCP proxy in front of a real redis-server; the store only arms it before the move's removal.
 */
import { Redis } from 'ioredis';
import request from 'supertest';
import { fromIoredis, RedisSessionStateStore } from '../../src/redis/index.js';
import type { RemoveItemOptions } from '../../src/store/session-state-store.js';
import { DroppingProxy } from '../support/dropping-proxy.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf, sessionApps } from '../e2e/session-app.js';

class ArmingStore extends RedisSessionStateStore {
  onMovedRemoval: (() => void) | undefined;
  override async removeItem(id: string, lockId: string, options?: RemoveItemOptions): Promise<void> {
    if (options?.moved) this.onMovedRemoval?.();
    return super.removeItem(id, lockId, options);
  }
}

let redis: RedisServer;
let proxy: DroppingProxy;
const clients: Redis[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
  proxy = await DroppingProxy.start(redis.port);
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await proxy?.stop();
  await redis?.stop();
});

describe.each(ADAPTERS)('a login whose removal of the old id is resent by ioredis, over %s', (adapter) => {
  const { start, seeded } = sessionApps();

  it('keeps the session under one id that the client holds (not lost under both)', async () => {
    const ioredis = new Redis(proxy.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 10 });
    clients.push(ioredis);
    await ioredis.connect();
    const store = new ArmingStore({ client: fromIoredis(ioredis) });
    const a = await start(adapter, { store });
    const http = a.app.getHttpServer();
    // A first login loads the REMOVE script (else the drop hits its NOSCRIPT answer, which applied nothing).
    await request(http)
      .post('/regenerate')
      .set('Cookie', await seeded(a))
      .expect(200);
    const cookie = await seeded(a);
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    store.onMovedRemoval = () => {
      store.onMovedRemoval = undefined;
      proxy.armed = true;
    };
    const login = await request(http).post('/regenerate').set('Cookie', cookie);
    const drops = proxy.drops;
    proxy.drops = 0;
    expect(drops).toBe(1);
    const newCookie = sessionCookie(login.headers);
    const clientCookie = newCookie ?? cookie;
    const after = await request(http).get('/count').set('Cookie', clientCookie);
    // Expected: whatever the login answered, the client's cookie still names the session (count 1).
    expect({ count: after.body.count, oldStored: (await store.getItem(idOf(cookie))).kind }).toEqual({
      count: 1,
      oldStored: newCookie !== undefined ? 'absent' : expect.anything(),
    });
  });
});
