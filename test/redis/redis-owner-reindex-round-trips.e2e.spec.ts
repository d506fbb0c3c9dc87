/**
 * An owned session's entry in the owner index is renewed when a slide passes its horizon, about once
 * per timeout of activity, by whichever call slides it. After a release or a read-only expiry refresh
 * that is one round trip: the script that found the index due answers the owner with it (the store
 * used to read the owner first, an `HMGET`: two round trips). Commands counted at the server (MONITOR).
 */
import type { RedisClientType } from 'redis';
import type { RedisSessionStateStore } from '../../src/redis/index.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { roundTripsDuring, startClockedRedis, stopClockedRedis } from '../support/redis-test-helpers.js';
import type { RedisServer } from '../support/redis-server.js';

const MINUTE = 60_000;

let server: RedisServer;
let admin: RedisClientType;
let store: RedisSessionStateStore;
let offsetMs = 0;

beforeAll(async () => ({ server, admin, store } = await startClockedRedis(() => Date.now() + offsetMs)));
afterAll(() => stopClockedRedis({ server, admin, store }));

/** An owned session (timeout 30 min) whose next slide passes its index horizon, and whose lock does not slide it (expiry > 10 min away). */
async function dueSession(): Promise<{ id: string; owner: string }> {
  offsetMs = 0;
  const id = generateSessionId();
  const owner = `owner-${generateSessionId()}`;
  await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 30, owner }, null, true);
  // A write 27 minutes later slides the expiry to 57 minutes; the index, made for 60, is not due yet.
  offsetMs = 27 * MINUTE;
  const { lockId } = flat(await store.getItemExclusive(id));
  await store.setAndReleaseItemExclusive(id, { items: '{"n":2}', timeout: 30, owner }, lockId, false);
  // 45 minutes: the expiry (57) is 12 minutes away, so a lock does not slide it; a slide now (to 75) passes the index (60).
  offsetMs = 45 * MINUTE;
  return { id, owner };
}

describe('RedisSessionStateStore: the owner index renewed by a release or a read-only refresh', () => {
  beforeAll(async () => {
    // Each script's first call is EVALSHA, NOSCRIPT, then EVAL: not what is counted here.
    const released = await dueSession();
    await store.releaseItemExclusive(released.id, flat(await store.getItemExclusive(released.id)).lockId!);
    await store.resetItemTimeout((await dueSession()).id);
  });

  it('a release that finds the index due renews it in one more round trip (no read of the owner)', async () => {
    const { id, owner } = await dueSession();
    const { lockId } = flat(await store.getItemExclusive(id));
    const before = Number(await admin.zScore(`sess:owner:{${owner}}`, id));
    // The release, then the index entry and the owner's registration for the sweep: no HMGET of the owner.
    expect(await roundTripsDuring(server.url, () => store.releaseItemExclusive(id, lockId!))).toEqual({ evalsha: 3 });
    expect(Number(await admin.zScore(`sess:owner:{${owner}}`, id))).toBeGreaterThan(before);
  });

  it('a read-only refresh (resetItemTimeout) that finds the index due renews it in one more round trip', async () => {
    const { id, owner } = await dueSession();
    const before = Number(await admin.zScore(`sess:owner:{${owner}}`, id));
    expect(await roundTripsDuring(server.url, () => store.resetItemTimeout(id))).toEqual({ evalsha: 3 });
    expect(Number(await admin.zScore(`sess:owner:{${owner}}`, id))).toBeGreaterThan(before);
  });
});
