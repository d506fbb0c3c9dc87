/**
 * Lock and save commands whose answer is lost on an ioredis connection. ioredis resends unfulfilled
 * commands after it reconnects (`autoResendUnfulfilledCommands`, true by default), so a script that
 * already ran runs a second time. The store must recognise its own earlier run:
 * - a SAVE that ran: the second run found the lock released (or handed over) and answered 409 for
 *   changes that were saved, inviting a retry that applies them twice;
 * - a new session's (or a login's copy's) SAVE that ran: the second run found the record there and
 *   answered 409 too;
 * - a LOCK that ran: the second run found the lock held (by this request's own id) and the request
 *   waited for itself until the lock was stale.
 * The fault (a connection dropped between the script's execution and its reply) is made by a real
 * TCP proxy in front of a real redis-server; the store only arms it before the call.
 */
import { Redis } from 'ioredis';
import request from 'supertest';
import { fromIoredis, RedisSessionStateStore } from '../../src/redis/index.js';
import type { RemoveItemOptions, SessionStateAcquisition, SessionStateStoreData } from '../../src/store/session-state-store.js';
import { LOCK, RELEASE, REMOVE, SAVE, type RedisScript } from '../../src/redis/redis-scripts.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { DroppingProxy } from '../support/dropping-proxy.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf, queueBehind, sessionApps, type SessionApp } from '../e2e/session-app.js';

type Armed = 'lock' | 'save' | 'new save' | 'hand-over' | 'remove';

/** Arms the proxy right before the named call, once: its command's answer is the one lost. */
class ArmingStore extends RedisSessionStateStore {
  arm: Armed | null = null;
  proxy!: DroppingProxy;
  /** `script`: the call's own (another command sent meanwhile on the connection keeps its answer). */
  private fire(call: Armed, script: RedisScript): void {
    if (this.arm !== call) return;
    this.arm = null;
    this.proxy.armed = true;
    this.proxy.armedFor = script.sha1;
  }
  override getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    this.fire('lock', LOCK);
    return super.getItemExclusive(id);
  }
  override handOverItemExclusive(id: string, item: SessionStateStoreData, lockId: string, changed: boolean): Promise<SessionStateAcquisition> {
    this.fire('hand-over', changed ? SAVE : RELEASE);
    return super.handOverItemExclusive(id, item, lockId, changed);
  }
  override removeItem(id: string, lockId: string, options?: RemoveItemOptions): Promise<void> {
    if (!options?.moved) this.fire('remove', REMOVE);
    return super.removeItem(id, lockId, options);
  }
  override setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    this.fire(newItem ? 'new save' : 'save', SAVE);
    return super.setAndReleaseItemExclusive(id, item, lockId, newItem);
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

describe.each(ADAPTERS)('a command resent by ioredis after its answer was lost, over %s', (adapter) => {
  const { start, seeded } = sessionApps();

  async function app(): Promise<{ a: SessionApp; store: ArmingStore; http: ReturnType<SessionApp['app']['getHttpServer']> }> {
    const ioredis = new Redis(proxy.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 10 });
    clients.push(ioredis);
    await ioredis.connect();
    const store = new ArmingStore({ client: fromIoredis(ioredis) });
    store.proxy = proxy;
    const a = await start(adapter, { store });
    const http = a.app.getHttpServer();
    // Load every script first (else the drop hits a NOSCRIPT answer, which applied nothing).
    const warm = await seeded(a);
    await request(http).post('/count').set('Cookie', warm).expect(200);
    await request(http).post('/regenerate').set('Cookie', warm).expect(200);
    proxy.drops = 0;
    return { a, store, http };
  }

  /** The request, with the proxy's drop count it caused; bounded, so that a request waiting for itself fails fast. */
  async function dropping(send: () => request.Test): Promise<{ response: request.Response; drops: number }> {
    const response = await send().timeout(8_000);
    const drops = proxy.drops;
    proxy.drops = 0;
    return { response, drops };
  }

  it('a write whose save ran: 200, saved once, the lock free (not a 409 that invites a retry)', async () => {
    const { store, http, a } = await app();
    const cookie = await seeded(a);
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    store.arm = 'save';
    const { response, drops } = await dropping(() => request(http).post('/count').set('Cookie', cookie));
    expect({ drops, status: response.status, body: response.body }).toEqual({ drops: 1, status: 200, body: { count: 2 } });
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 3 });
    expect(await store.probeLock(idOf(cookie))).toBeNull();
  });

  it('a write whose lock ran: served at once (not waiting for its own lock), saved once', async () => {
    const { store, http, a } = await app();
    const cookie = await seeded(a);
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    store.arm = 'lock';
    const { response, drops } = await dropping(() => request(http).post('/count').set('Cookie', cookie));
    expect({ drops, status: response.status, body: response.body }).toEqual({ drops: 1, status: 200, body: { count: 2 } });
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 3 });
    expect(await store.probeLock(idOf(cookie))).toBeNull();
  });

  it.each([
    ['a changed', '/count', 200, 3],
    ['an unchanged (its request failed)', '/throw', 400, 2],
  ])('%s hand-over to a request queued in this process, that ran: both served at once', async (_, first, status, count) => {
    const { store, http, a } = await app();
    const cookie = await seeded(a);
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    const holder = request(http)
      .post(`${first}?gate=hold`)
      .set('Cookie', cookie)
      .timeout(8_000)
      .then((r) => r);
    await a.gates.arrived('hold');
    const [queued] = await queueBehind(a, cookie, (r) => r.post('/count').timeout(8_000));
    store.arm = 'hand-over';
    a.gates.open('hold');
    const [held, next] = await Promise.all([holder, queued!]);
    const drops = proxy.drops;
    proxy.drops = 0;
    expect({ drops, held: held.status, next: next.status, body: next.body }).toEqual({ drops: 1, held: status, next: 200, body: { count } });
    expect(await store.probeLock(idOf(cookie))).toBeNull();
  });

  it('a logout whose removal ran: 200, the session gone', async () => {
    const { store, http, a } = await app();
    const cookie = await seeded(a);
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    store.arm = 'remove';
    const { response, drops } = await dropping(() => request(http).post('/abandon').set('Cookie', cookie));
    expect({ drops, status: response.status, body: response.body }).toEqual({ drops: 1, status: 200, body: { abandoned: true } });
    expect((await store.getItem(idOf(cookie))).kind).toBe('absent');
  });

  it("a new session's first save that ran: 200 with its cookie, stored once", async () => {
    const { store, http } = await app();
    store.arm = 'new save';
    const { response, drops } = await dropping(() => request(http).post('/count'));
    const cookie = sessionCookie(response.headers);
    expect({ drops, status: response.status, body: response.body, cookie: cookie !== undefined }).toEqual({
      drops: 1,
      status: 200,
      body: { count: 1 },
      cookie: true,
    });
    await request(http).post('/count').set('Cookie', cookie!).expect(200, { count: 2 });
    expect(await store.probeLock(idOf(cookie!))).toBeNull();
  });

  it("a login whose copy's save ran: 200 with the new cookie, the session under it alone", async () => {
    const { store, http, a } = await app();
    const cookie = await seeded(a);
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    store.arm = 'new save';
    const { response, drops } = await dropping(() => request(http).post('/regenerate').set('Cookie', cookie));
    const moved = sessionCookie(response.headers);
    expect({ drops, status: response.status, body: response.body, moved: moved !== undefined && moved !== cookie }).toEqual({
      drops: 1,
      status: 200,
      body: { changed: true },
      moved: true,
    });
    await request(http).post('/count').set('Cookie', moved!).expect(200, { count: 2 });
    expect((await store.getItem(idOf(cookie))).kind).toBe('absent');
    expect(await store.probeLock(idOf(moved!))).toBeNull();
  });
});

describe('a save that set an owner, resent by ioredis after its answer was lost', () => {
  it('indexes the owner all the same: sign-out-everywhere finds the session', async () => {
    const ioredis = new Redis(proxy.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 10 });
    clients.push(ioredis);
    await ioredis.connect();
    const store = new ArmingStore({ client: fromIoredis(ioredis) });
    store.proxy = proxy;
    await store.init();
    try {
      const id = generateSessionId();
      const owner = `user-${generateSessionId()}`;
      // Loads the scripts (a NOSCRIPT answer applied nothing, and is not the drop this test wants).
      await store.setAndReleaseItemExclusive(generateSessionId(), { items: '{}', timeout: 20 }, null, true);
      await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
      const taken = await store.getItemExclusive(id);
      if (taken.kind !== 'acquired') throw new Error(`expected the lock, got ${taken.kind}`);
      proxy.drops = 0;
      store.arm = 'save';
      await store.setAndReleaseItemExclusive(id, { items: '{"n":2}', timeout: 20, owner }, taken.lockId, false);
      expect(proxy.drops).toBe(1);
      proxy.drops = 0;
      expect(await store.revokeOwner(owner)).toBe(1);
      expect((await store.getItem(id)).kind).toBe('absent');
    } finally {
      await store.close();
    }
  });
});
