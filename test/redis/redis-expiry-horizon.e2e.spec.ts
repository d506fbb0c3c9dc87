/**
 * What the cheaper scripts changed about expiry, on a real redis-server: a lock far from its
 * session's expiry writes only the lock (the request's save or release slides the expiry); a lock
 * within LOCK_SLIDE_MS of it slides it; and the key's own TTL is renewed only when the horizon the
 * store recorded (`x`) falls short, yet always outlives the session's expiry by ttlExtraSeconds (and
 * by at most a quarter of the timeout more), whatever the calls and however the clock moves.
 */
import type { RedisClientType } from 'redis';
import { SessionStateCorruptError } from '../../src/errors/session-state.errors.js';
import type { RedisSessionStateStore } from '../../src/redis/index.js';
import { LOCK_SLIDE_MS } from '../../src/redis/redis-scripts.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { startClockedRedis, stopClockedRedis } from '../support/redis-test-helpers.js';
import type { RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let admin: RedisClientType;
let offsetMs = 0;
let store: RedisSessionStateStore;
const EXTRA_MS = 60_000;
const MINUTE = 60_000;

beforeAll(async () => ({ server, admin, store } = await startClockedRedis(() => Date.now() + offsetMs)));
afterAll(() => stopClockedRedis({ server, admin, store }));
beforeEach(() => {
  offsetMs = 0;
});

const expiryOf = async (id: string) => Number(await admin.hGet(store.key(id), 'e'));

describe('RedisSessionStateStore: expiry and the key TTL', () => {
  it('a lock far from the expiry writes only the lock; its save slides the expiry', async () => {
    const id = 'horizon-far-aaaaaaaaaaaaaaaaaaaaaaaaa';
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
    const written = await expiryOf(id);
    offsetMs = 60_000; // a minute later: 19 minutes left
    const acquired = flat(await store.getItemExclusive(id));
    expect(acquired.kind).toBe('acquired');
    expect(acquired.expires).toBe(written);
    expect(await expiryOf(id)).toBe(written);
    const saving = Date.now() + offsetMs;
    await store.setAndReleaseItemExclusive(id, { items: '{"n":2}', timeout: 20 }, acquired.lockId!, false);
    expect(await expiryOf(id)).toBeGreaterThanOrEqual(saving + 20 * MINUTE);
    expect(await expiryOf(id)).toBeLessThanOrEqual(Date.now() + offsetMs + 20 * MINUTE);
  });

  it('a lock within LOCK_SLIDE_MS of the expiry slides it, and the key TTL with it', async () => {
    const id = 'horizon-near-aaaaaaaaaaaaaaaaaaaaaaaa';
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
    offsetMs = 20 * MINUTE - LOCK_SLIDE_MS + 1_000; // 10 minutes minus a second left
    const before = Date.now() + offsetMs;
    const acquired = flat(await store.getItemExclusive(id));
    expect(acquired.kind).toBe('acquired');
    expect(acquired.expires).toBeGreaterThanOrEqual(before + 20 * MINUTE);
    expect(await expiryOf(id)).toBe(acquired.expires);
    // The key outlives the new expiry by ttlExtraSeconds (measured on Redis's clock: the store's runs ahead by offsetMs).
    expect(Date.now() + (await admin.pTTL(store.key(id)))).toBeGreaterThanOrEqual(acquired.expires! - offsetMs + EXTRA_MS - 1_000);
    expect(await store.releaseItemExclusive(id, acquired.lockId!)).toBe(true);
  });

  it('the key TTL always covers the expiry + ttlExtraSeconds, and at most a quarter of the timeout more (seeded random calls, moving clock)', async () => {
    let seed = 20261205;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const id = 'horizon-random-aaaaaaaaaaaaaaaaaaaaaa';
    const timeoutMs = 20 * MINUTE;
    await store.setAndReleaseItemExclusive(id, { items: '{"n":0}', timeout: 20 }, null, true);
    let saves = 0;
    let renewals = 0;
    let writes = 0;
    let lastHorizon = Number(await admin.hGet(store.key(id), 'x'));
    for (let step = 0; step < 200; step++) {
      offsetMs += Math.floor(random() * 4 * MINUTE); // up to 4 minutes between calls: sessions stay live
      const roll = random();
      if (roll < 0.9) writes++;
      if (roll < 0.45) {
        const { lockId } = flat(await store.getItemExclusive(id));
        await store.setAndReleaseItemExclusive(id, { items: `{"n":${++saves}}`, timeout: 20 }, lockId!, false);
      } else if (roll < 0.75) {
        const { lockId } = flat(await store.getItemExclusive(id));
        expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
      } else if (roll < 0.9) {
        await store.resetItemTimeout(id);
      } else {
        expect(flat(await store.getItem(id)).kind).toBe('loaded');
      }
      // In the store's clock: when Redis will drop the key (Redis does not see the clock jump, so a
      // TTL set earlier looks longer by the jumps since: checked against `x` when just renewed).
      const keyExpiry = Date.now() + offsetMs + (await admin.pTTL(store.key(id)));
      const expires = await expiryOf(id);
      const horizon = Number(await admin.hGet(store.key(id), 'x'));
      expect(keyExpiry, `step ${step}`).toBeGreaterThanOrEqual(expires + EXTRA_MS - 1_000);
      expect(horizon, `step ${step}`).toBeGreaterThanOrEqual(expires + EXTRA_MS);
      expect(horizon, `step ${step}`).toBeLessThanOrEqual(expires + EXTRA_MS + timeoutMs / 4);
      if (horizon !== lastHorizon) {
        renewals++;
        expect(Math.abs(keyExpiry - horizon), `step ${step}`).toBeLessThan(1_000);
      }
      lastHorizon = horizon;
    }
    // Renewed now and then (once the expiry passes the recorded horizon), not by every write.
    expect(renewals).toBeGreaterThan(5);
    expect(renewals).toBeLessThan(writes * 0.75);
    expect(saves).toBeGreaterThan(50);
  });

  it('a session whose timeout is unreadable: the lock is refused as corrupt (its id handed back), and its release unlocks it', async () => {
    const id = 'horizon-corrupt-aaaaaaaaaaaaaaaaaaaaa';
    await admin.hSet(store.key(id), { v: '1', e: String(Date.now() + 20 * MINUTE), t: 'soon', i: '{}' });
    const error = await store.getItemExclusive(id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionStateCorruptError);
    const { lockId } = error as SessionStateCorruptError;
    expect(lockId).toEqual(expect.any(String));
    await store.releaseItemExclusive(id, lockId!);
    expect(await admin.hmGet(store.key(id), ['l', 'd', 'w'])).toEqual([null, null, null]);
  });

  it('a stored expiry that is not a number is a corrupt record, never a session', async () => {
    const id = 'horizon-garbage-aaaaaaaaaaaaaaaaaaaaa';
    await admin.hSet(store.key(id), { v: '1', e: '99999999999999x', t: '20', i: '{}' });
    await expect(store.getItemExclusive(id)).rejects.toBeInstanceOf(SessionStateCorruptError);
    await expect(store.getItem(id)).rejects.toBeInstanceOf(SessionStateCorruptError);
  });
});
