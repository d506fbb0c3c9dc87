/**
 * A LOCK whose answer was lost and that ioredis resent (found by review R15). Its first run slid the
 * expiry and pushed the owner index's horizon (`u`, in the hash); only its lost answer carried that
 * horizon to the store's INDEX_OWNER. The resend must answer it again (the stored one), or the owner
 * index's entry keeps its old horizon, is trimmed once that passes, and sign-out-everywhere
 * (`revokeOwner`) misses a live session.
 */
import { Redis } from 'ioredis';
import { fromIoredis, RedisSessionStateStore } from '../../src/redis/index.js';
import { LOCK } from '../../src/redis/redis-scripts.js';
import type { SessionStateAcquisition } from '../../src/store/session-state-store.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { DroppingProxy } from '../support/dropping-proxy.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

class ArmingStore extends RedisSessionStateStore {
  armLock = false;
  proxy!: DroppingProxy;
  override getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    if (this.armLock) {
      this.armLock = false;
      this.proxy.armed = true;
      this.proxy.armedFor = LOCK.sha1;
    }
    return super.getItemExclusive(id);
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

async function scenario(dropLockAnswer: boolean): Promise<{ drops: number; revoked: number; stillLive: string }> {
  const ioredis = new Redis(proxy.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 10 });
  clients.push(ioredis);
  await ioredis.connect();
  const T0 = Date.now();
  let offset = 0;
  const store = new ArmingStore({ client: fromIoredis(ioredis), clock: () => T0 + offset, ttlExtraSeconds: 0 });
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
    store.armLock = dropLockAnswer;
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

describe('a resent LOCK that slid the expiry (ioredis)', () => {
  it('control, no drop: sign-out-everywhere ends both sessions', async () => {
    expect(await scenario(false)).toEqual({ drops: 0, revoked: 2, stillLive: 'absent' });
  });

  it('its lost answer carried the owner index horizon: sign-out-everywhere must still end the session', async () => {
    expect(await scenario(true)).toEqual({ drops: 1, revoked: 2, stillLive: 'absent' });
  });
});
