/**
 * RedisOwnerSweep's scheduling (review R5): a sweep that stops at its most steps with owners still
 * due comes again soon, not at the interval (else owners going idle faster than one sweep's share pile
 * up); a stopped sweep ends at its next step; a run of failures (Redis down) is said once. The
 * commands stand in for Redis: a backlog without end and a failing server on cue.
 */
import { Logger } from '@nestjs/common';
import type { RedisCommands } from '../../src/redis/redis-commands.js';
import { RedisOwnerSweep } from '../../src/redis/redis-owner-sweep.js';
import { REAP_DONE, REAP_OWNER, REAP_PICK } from '../../src/redis/redis-scripts.js';

/** A reaper set that always has 100 owners due; `down` fails every call; `onPick` runs at each step. */
function fakeRedis() {
  const state = { picks: 0, down: false, onPick: () => {} };
  const commands = {
    script: async (script: unknown) => {
      if (state.down) throw new Error('Redis is down');
      if (script === REAP_PICK) {
        state.picks++;
        state.onPick();
        return ['1.5', ...Array.from({ length: 100 }, (_, i) => `owner-${state.picks}-${i}`)];
      }
      if (script === REAP_OWNER) return 0;
      if (script === REAP_DONE) return 1;
      throw new Error('unexpected script');
    },
  } as unknown as RedisCommands;
  return { state, commands };
}

const keys = { reaper: 'sess:owners', index: (o: string) => `sess:owner:{${o}}`, book: (o: string) => `sess:owner:{${o}}:cap` };

describe('RedisOwnerSweep scheduling', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('a sweep stopped at its most steps (a backlog) is followed within a second, not at the interval', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // the interval's pause without jitter: 60 s
    const { state, commands } = fakeRedis();
    const sweep = new RedisOwnerSweep(() => commands, keys, Date.now, 60_000, new Logger('test'));
    sweep.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(state.picks).toBe(20); // 20 steps of 100: 2,000 owners, more due
    await vi.advanceTimersByTimeAsync(999);
    expect(state.picks).toBe(20);
    await vi.advanceTimersByTimeAsync(1);
    expect(state.picks).toBe(40);
    await sweep.stop();
  });

  it('no sweep runs after stop(), however long the process stays', async () => {
    vi.useFakeTimers();
    const { state, commands } = fakeRedis();
    const sweep = new RedisOwnerSweep(() => commands, keys, Date.now, 1_000, new Logger('test'));
    sweep.start();
    await vi.advanceTimersByTimeAsync(1_500); // one sweep at most (0.5–1.5 s)
    const before = state.picks;
    expect(before).toBeGreaterThan(0);
    await sweep.stop();
    sweep.start(); // a late index write after close: no new timer either
    await vi.advanceTimersByTimeAsync(60_000);
    expect(state.picks).toBe(before);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop() ends a sweep under way at its next step', async () => {
    const { state, commands } = fakeRedis();
    const sweep = new RedisOwnerSweep(() => commands, keys, Date.now, 60_000, new Logger('test'));
    let stopping: Promise<void> | undefined;
    state.onPick = () => {
      if (state.picks === 3) stopping = sweep.stop();
    };
    await sweep.sweep();
    await stopping;
    expect(state.picks).toBe(3);
  });

  it('a run of failed sweeps (Redis down) logs once, and again after a sweep worked', async () => {
    vi.useFakeTimers();
    const { state, commands } = fakeRedis();
    const logger = new Logger('test');
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => {});
    const sweep = new RedisOwnerSweep(() => commands, keys, Date.now, 1_000, logger);
    state.down = true;
    sweep.start();
    await vi.advanceTimersByTimeAsync(10_000); // at least 6 sweeps (pauses of 0.5–1.5 s)
    expect(warn).toHaveBeenCalledTimes(1);
    state.down = false;
    await vi.advanceTimersByTimeAsync(1_500);
    state.down = true;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(warn).toHaveBeenCalledTimes(2);
    await sweep.stop();
  });
});
