/**
 * RedisPendingReleases.flush (the store's close()): one last attempt at each held-back release
 * instead of dropping them; it stops at the first failure (Redis still unreachable) and keeps none.
 * The release function stands in for Redis: its failures are the outage a real server gives only
 * with timing.
 */
import { RedisPendingReleases } from '../../src/redis/redis-pending-releases.js';

describe('RedisPendingReleases.flush', () => {
  it('releases what Redis answers, stops at the first failure, and answers how many were left', async () => {
    const released: string[] = [];
    let up = true;
    const pending = new RedisPendingReleases(async (_id, lockId) => {
      if (!up) throw new Error('unreachable');
      released.push(lockId);
    }, 60_000);
    pending.add('a', 'lock-a');
    pending.add('b', 'lock-b');
    expect(await pending.flush()).toBe(0);
    expect(released).toEqual(['lock-a', 'lock-b']);
    expect(pending.size).toBe(0);

    pending.add('c', 'lock-c');
    pending.add('d', 'lock-d');
    up = false;
    expect(await pending.flush()).toBe(2);
    expect(pending.size).toBe(0);
  });
});
