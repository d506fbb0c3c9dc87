import type { Logger } from '@nestjs/common';
import type { RedisCommands } from './redis-commands.js';
import { list } from './redis-replies.js';
import { REAP_DONE, REAP_OWNER, REAP_PICK } from './redis-scripts.js';

/** Owners taken per step of a sweep (one script on the reaper set, one per owner, one to finish). */
const BATCH = 100;
/** Steps per sweep at most: a backlog bigger than this is worked off over the next sweeps. */
const MAX_STEPS = 20;
/** How long owners taken by a sweep are skipped by the others' (and retried, if this one died). */
export const SWEEP_LEASE_MS = 60_000;
/** The pause before the next sweep when one stopped at MAX_STEPS with owners still due (a backlog). */
const BACKLOG_PAUSE_MS = 1_000;

/** What one sweep did. */
export interface OwnerSweepResult {
  /** Owners looked at. */
  readonly visited: number;
  /** Owners whose index and cap book were deleted (no entry needed any more). */
  readonly removed: number;
}

/** The keys of the store the sweep works on. */
export interface OwnerSweepKeys {
  /** The reaper set (`{prefix}owners`): owners with an index, scored by when to look at them. */
  readonly reaper: string;
  readonly index: (owner: string) => string;
  readonly book: (owner: string) => string;
}

/**
 * Deletes the owner indexes (and cap books) no session needs any more. They have no TTL (so that no
 * `volatile-*` eviction policy picks them: see INDEX_OWNER), so this is their only way out. An owner
 * is registered in the reaper set, scored by its newest entry's horizon, each time its index gains an
 * entry; a sweep takes the owners due (leased: the sweeps of other instances skip them), trims each
 * one's index in its own slot, and deletes the owner's keys when no entry is left, or scores the
 * owner by when to look again. Every step is atomic on its own slot, and safe whatever other sweeps
 * and logins do meanwhile (a registration replaces a lease, and the sweep's last step leaves an owner
 * whose score changed). Runs on an unref'd timer, jittered (0.5–1.5 × `intervalMs`), started by the
 * store's first use of an owner index or its `init()`, stopped by its `close()` (resumed if it is opened again).
 */
export class RedisOwnerSweep {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  /** The last sweep stopped at MAX_STEPS with owners still due: the next comes soon, not at the interval. */
  private backlog = false;
  /** Said once per run of failures (Redis down: every sweep fails until it is back). */
  private failing = false;

  constructor(
    private readonly commands: () => RedisCommands,
    private readonly keys: OwnerSweepKeys,
    private readonly clock: () => number,
    private readonly intervalMs: number | null,
    private readonly logger: Logger,
    /** Run first by every sweep: registrations that failed when they were made (see RedisOwners). */
    private readonly beforeSweep: () => Promise<void> = async () => {},
  ) {}

  /** Schedules the next sweep unless one is scheduled, the sweep is off, or the store is closed. */
  start(): void {
    if (this.timer || this.stopped || this.intervalMs === null) return;
    const pause = this.backlog ? Math.min(BACKLOG_PAUSE_MS, this.intervalMs) : this.intervalMs * (0.5 + Math.random());
    this.timer = setTimeout(() => {
      this.running = this.sweep()
        .then(
          () => (this.failing = false),
          (error: unknown) => {
            this.backlog = false;
            if (this.failing) return;
            this.failing = true;
            this.logger.warn(`Sweeping the owner indexes failed (tried again later, said once until a sweep works): ${(error as Error).message}`);
          },
        )
        .finally(() => {
          this.running = undefined;
          this.timer = undefined;
          this.start();
        });
    }, pause);
    this.timer.unref();
  }

  /** No more sweeps; waits for one under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** A closed store opened again (the next application's `init()`): sweeps may be scheduled again. */
  resume(): void {
    this.stopped = false;
  }

  /** One sweep now: the owners due, up to MAX_STEPS × BATCH of them. */
  async sweep(): Promise<OwnerSweepResult> {
    let visited = 0;
    let removed = 0;
    this.backlog = false;
    await this.beforeSweep();
    // A stopped store (closing) ends its sweep at the next step, not after MAX_STEPS of them.
    for (let step = 0; step < MAX_STEPS && !this.stopped; step++) {
      const now = this.clock();
      const picked = list(await this.commands().script(REAP_PICK, this.keys.reaper, [String(now), String(BATCH), String(SWEEP_LEASE_MS)]));
      const [lease, ...owners] = picked.map((reply) => String(reply));
      if (lease === undefined || owners.length === 0) break;
      const results = await Promise.allSettled(
        owners.map((owner) => this.commands().script(REAP_OWNER, this.keys.index(owner), [String(now)], false, [this.keys.book(owner)])),
      );
      const done: string[] = [lease];
      results.forEach((result, i) => {
        // Failed (its node unreachable): left leased, taken again once the lease passes.
        if (result.status === 'rejected') return;
        const next = result.value === 0 ? '0' : String(result.value);
        done.push(owners[i]!, next);
        visited++;
        if (next === '0') removed++;
      });
      if (done.length > 1) await this.commands().script(REAP_DONE, this.keys.reaper, done);
      if (owners.length < BATCH) break;
      if (step === MAX_STEPS - 1) this.backlog = true;
    }
    return { visited, removed };
  }
}
