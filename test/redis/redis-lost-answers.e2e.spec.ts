/**
 * Lock and save commands whose answer is lost (a connection dropped between the script's execution
 * and its reply), on both clients:
 * - ioredis resends an unfulfilled command after it reconnects (`autoResendUnfulfilledCommands`, true
 *   by default), so a script that ran runs a second time, and must recognise its own first run. Before
 *   it did: a SAVE that ran answered 409 for changes that were saved (inviting a retry that applies them
 *   twice), a new session's or a login's copy's too; a LOCK that ran made its request wait for itself
 *   until the lock was stale; a hand-over's too, for the request it was handed to.
 * - node-redis fails the command; the store sends a SAVE, a LOCK or a removal once more (a SAVE recognises
 *   its first run by its token, a LOCK by its lock id, a removal finds the session gone), or it runs now.
 * The fault is made by a real TCP proxy in front of a real redis-server; the store only arms it before the call.
 */
import request from 'supertest';
import { RedisSessionStateStore, type RedisSessionClient } from '../../src/redis/index.js';
import type { RemoveItemOptions, SessionStateAcquisition, SessionStateStoreData } from '../../src/store/session-state-store.js';
import { LOCK, RELEASE, REMOVE, SAVE, type RedisScript } from '../../src/redis/redis-scripts.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { DroppingProxy } from '../support/dropping-proxy.js';
import { reconnectingClient } from '../support/redis-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf, queueBehind, sessionApps, type SessionApp } from '../e2e/session-app.js';

type Armed = 'lock' | 'save' | 'new save' | 'hand-over' | 'remove' | 'moved removal';

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
    this.fire(options?.moved ? 'moved removal' : 'remove', REMOVE);
    return super.removeItem(id, lockId, options);
  }
  override setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    this.fire(newItem ? 'new save' : 'save', SAVE);
    return super.setAndReleaseItemExclusive(id, item, lockId, newItem);
  }
}

let redis: RedisServer;
let proxy: DroppingProxy;
const closers: (() => unknown)[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
  proxy = await DroppingProxy.start(redis.port);
});
afterAll(async () => {
  for (const close of closers) close();
  await proxy?.stop();
  await redis?.stop();
});

type ClientName = 'ioredis' | 'node-redis';

/** A connected client of the application, through the proxy, that reconnects at once. */
const clientOf = (name: ClientName): Promise<RedisSessionClient> => reconnectingClient(name, proxy.port, closers);

const CASES = (['ioredis', 'node-redis'] as const).flatMap((client) => ADAPTERS.map((adapter) => [client, adapter] as const));

describe.each(CASES)('a command whose answer was lost, on %s, over %s', (clientName, adapter) => {
  const { start, seeded } = sessionApps();

  let client: RedisSessionClient;

  async function app(
    executionTimeout?: number,
  ): Promise<{ a: SessionApp; store: ArmingStore; http: ReturnType<SessionApp['app']['getHttpServer']> }> {
    client = await clientOf(clientName);
    const store = new ArmingStore({ client });
    store.proxy = proxy;
    const a = await start(adapter, { store, ...(executionTimeout !== undefined && { executionTimeout }) });
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
    // The client reconnected before the test goes on (a command while it reconnects fails at once: 503).
    await vi.waitFor(() => expect(client.isReady).toBe(true));
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

  it('a write whose lock ran: served at once, not waiting for its own lock (node-redis: the store sends the LOCK again)', async () => {
    const { store, http, a } = await app();
    const cookie = await seeded(a);
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    store.arm = 'lock';
    const { response, drops } = await dropping(() => request(http).post('/count').set('Cookie', cookie));
    expect({ drops, status: response.status, count: response.body.count }).toEqual({ drops: 1, status: 200, count: 2 });
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
    await vi.waitFor(() => expect(client.isReady).toBe(true));
    expect({ drops, held: held.status, next: next.status, body: next.body }).toEqual({ drops: 1, held: status, next: 200, body: { count } });
    expect(await store.probeLock(idOf(cookie))).toBeNull();
  });

  it('a logout whose removal ran: 200, the session gone (node-redis: the store sends the removal again, which finds it gone)', async () => {
    const { store, http, a } = await app();
    const cookie = await seeded(a);
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    store.arm = 'remove';
    const { response, drops } = await dropping(() => request(http).post('/abandon').set('Cookie', cookie));
    expect({ drops, status: response.status }).toEqual({ drops: 1, status: 200 });
    expect((await store.getItem(idOf(cookie))).kind).toBe('absent');
  });

  it.each([
    ['', undefined],
    // Its lock within seconds of stale: the resend finds its own marker (its lock id); it once took a
    // "gone" for another request's move there, and removed its copy too (the session lost under both).
    [', its lock near stale', 5],
  ])(
    'a login whose removal of the old id ran%s: 200 with the new cookie, the session under it alone (not lost under both; review R10)',
    async (_, executionTimeout) => {
      const { store, http, a } = await app(executionTimeout);
      const cookie = await seeded(a);
      await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
      store.arm = 'moved removal';
      const { response, drops } = await dropping(() => request(http).post('/regenerate').set('Cookie', cookie));
      const moved = sessionCookie(response.headers);
      expect({ drops, status: response.status, moved: moved !== undefined && moved !== cookie }).toEqual({ drops: 1, status: 200, moved: true });
      await request(http).get('/count').set('Cookie', moved!).expect(200, { count: 1 });
      expect((await store.getItem(idOf(cookie))).kind).toBe('absent');
    },
  );

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

describe.each(['ioredis', 'node-redis'] as const)('a save that set an owner, whose answer was lost, on %s', (clientName) => {
  it('indexes the owner all the same: sign-out-everywhere finds the session', async () => {
    const client = await clientOf(clientName);
    const store = new ArmingStore({ client });
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
      await vi.waitFor(() => expect(client.isReady).toBe(true));
      expect(await store.revokeOwner(owner)).toBe(1);
      expect((await store.getItem(id)).kind).toBe('absent');
    } finally {
      await store.close();
    }
  });
});

/** An owned session whose LOCK, sliding its expiry past the owner index's horizon, loses its answer (or not). */
async function lockSlidingTheIndex(dropLockAnswer: boolean): Promise<{ drops: number; revoked: number; stillLive: string }> {
  const T0 = Date.now();
  let offset = 0;
  const store = new ArmingStore({ client: await clientOf('ioredis'), clock: () => T0 + offset, ttlExtraSeconds: 0 });
  store.proxy = proxy;
  await store.init();
  try {
    const owner = `user-${generateSessionId()}`;
    // Loads the scripts (a NOSCRIPT answer is not the drop wanted here).
    const warm = generateSessionId();
    await store.setAndReleaseItemExclusive(warm, { items: '{}', timeout: 1 }, null, true);
    const w = await store.getItemExclusive(warm);
    if (w.kind !== 'acquired') throw new Error(w.kind);
    await store.setAndReleaseItemExclusive(warm, { items: '{}', timeout: 1 }, w.lockId, false);

    // T0: a signed-in session, timeout 1 minute: the index holds it until T0 + 120 s.
    const id = generateSessionId();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":0}', timeout: 1, owner }, null, true);
    // T0 + 50 s: a request (expiry T0 + 110 s; the index's horizon is still far enough: not pushed).
    offset = 50_000;
    const a = await store.getItemExclusive(id);
    if (a.kind !== 'acquired') throw new Error(a.kind);
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 1, owner }, a.lockId, false);
    // T0 + 100 s: a request whose LOCK slides the expiry to T0 + 160 s, past the index's horizon: its
    // first run writes u = T0 + 220 s and answers that horizon for the store to index. That answer is lost.
    offset = 100_000;
    proxy.drops = 0;
    store.arm = dropLockAnswer ? 'lock' : null;
    const b = await store.getItemExclusive(id);
    const drops = proxy.drops;
    proxy.drops = 0;
    if (b.kind !== 'acquired') throw new Error(`expected the lock, got ${b.kind}`);
    await store.releaseItemExclusive(id, b.lockId);
    // T0 + 130 s: the session is live until T0 + 160 s. The owner signs in elsewhere (its index is
    // written, so trimmed of entries past their horizon), then signs out everywhere.
    offset = 130_000;
    await store.setAndReleaseItemExclusive(generateSessionId(), { items: '{}', timeout: 1, owner }, null, true);
    const revoked = await store.revokeOwner(owner);
    return { drops, revoked, stillLive: (await store.getItem(id)).kind };
  } finally {
    await store.close();
  }
}

/**
 * A LOCK whose first run slid the expiry and pushed the owner index's horizon (`u`, in the hash); only its
 * lost answer carried that horizon to the store's INDEX_OWNER (review R15). The resend must answer it
 * again, or the index entry keeps its old horizon, is trimmed once that passes, and sign-out-everywhere
 * (`revokeOwner`) misses a live session.
 */
describe('a LOCK that slid the expiry, resent by ioredis after its answer was lost', () => {
  it('control, no drop: sign-out-everywhere ends both sessions', async () => {
    expect(await lockSlidingTheIndex(false)).toEqual({ drops: 0, revoked: 2, stillLive: 'absent' });
  });

  it('its lost answer carried the owner index horizon: sign-out-everywhere must still end the session', async () => {
    expect(await lockSlidingTheIndex(true)).toEqual({ drops: 1, revoked: 2, stillLive: 'absent' });
  });
});
