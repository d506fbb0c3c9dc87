import type { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionStateQueueFullError, SessionStateWaitAbortedError } from '../errors/session-state.errors.js';
import { logOperationFailure } from '../observability/operation-failure-log.js';
import { redactSessionId } from '../session/session-id.js';
import type { ResolvedSessionStateOptions } from '../module/session-state.options.js';
import type {
  SessionStateAbsent,
  SessionStateAcquired,
  SessionStateLoaded,
  SessionStateLocked,
  SessionStateReleaseWatch,
  SessionStateStore,
} from '../store/session-state-store.js';
import { onAbort, signalOf, type WaitSignal } from './lazy-abort.js';

interface Waiter {
  resolve(wake: Wake): void;
  reject(error: Error): void;
}

/** What a waiter is woken with. */
interface Wake {
  /** Whether a holder it waited behind held the store lock of an existing session. */
  heldLock: boolean;
  /** The store lock itself, taken for this waiter by its predecessor's `handOverItemExclusive`. */
  handedOver?: SessionStateAcquired;
}

/** The request of this process whose turn it is to hold the session (as writer). */
interface Turn {
  /** When it took the store lock (Date.now()); undefined while it is still asking the store. */
  lockedAt?: number;
  /**
   * The turn came after a holder of the store lock: handed on by (a chain of) holders of which one
   * held it, or its request found the lock held by another process and waited for it. Requests
   * queued behind it waited for that holder too, so its hand-off tells them (see `Wake.heldLock`).
   */
  afterLockHolder?: boolean;
  /** How many hand-overs in a row led to this turn (see `MAX_HAND_OVERS`). */
  handOvers?: number;
}

/**
 * Hand-overs in a row before a holder releases the lock instead: then a waiter of another process,
 * polling, gets its chance (a hand-over never unlocks the session), and the next lock is an
 * ordinary one, which reads the stored session again (on DynamoDB it also keeps a large session's
 * data item from expiring under a long chain).
 */
const MAX_HAND_OVERS = 16;

/** This process's requests for one session: at most one of them talks to the store as writer. */
interface LocalQueue {
  readonly id: string;
  turn: Turn | null;
  writers: Waiter[];
  readers: Waiter[];
  /** Fires when the turn's lock becomes stale; armed only while someone waits. */
  staleTimer?: NodeJS.Timeout;
}

export interface Acquisition<Result = SessionStateLoaded | SessionStateAbsent> {
  /** Never `locked`: the lock was waited for (and a stale one broken). */
  result: Result;
  /**
   * The request had to wait for another holder (in this process or another). A session found
   * absent after a wait was moved or ended by that holder, not merely unknown.
   */
  waited: boolean;
  /** This acquisition broke a stale lock on its way (metrics: its wait's outcome is `stale_broken`). */
  brokeStale?: true;
}

/** The holder's side of this process's queue for a session. */
export interface LocalTurn {
  /** Hands the session to this process's next waiting request. Call after the store lock is released. */
  releaseLocal(): void;
  /**
   * Whether the store lock can be handed over (`handOverItemExclusive`) instead of released: a
   * writer of this process waits for the session, and no reader does (a hand-over keeps the
   * session locked, and a reader must not wait behind every writer that arrives).
   */
  canHandOver(): boolean;
  /**
   * Instead of `releaseLocal`: gives the next waiting writer the store lock taken for it. Settles
   * once nothing is left to do: at once, or, when no writer waits any more, once that lock is released.
   */
  handOver(acquired: SessionStateAcquired): Promise<void>;
}

interface ExclusiveAcquisition extends Acquisition<SessionStateAcquired | SessionStateAbsent> {
  /** The request's turn in this process's queue for the session. */
  turn: LocalTurn;
}

/**
 * Waits for session locks. Within the process, requests of one session queue here and are handed
 * the session the moment the previous one is done (no polling, and only one of them polls the store).
 * A lock held by another process is polled with exponential backoff and equal jitter (a pause is uniform between half the ceiling and the ceiling). A lock older
 * than `executionTimeout` is stale, whoever holds it: waiters of this process are let through once
 * the holder's lock is that old (measured from the holder's acquisition, not from their arrival),
 * and whoever meets it at the store breaks it.
 */
export class SessionLockCoordinator {
  private readonly queues = new Map<string, LocalQueue>();
  private closed = false;
  /**
   * Aborted by `close()`: a wait at the store (a pause between polls, a watch for another process's
   * release) is in no queue `close()` can empty, and it may last up to `pollMaxMs` or `fallbackPollMs`;
   * the HTTP server's close would wait for its request that long.
   */
  private readonly shutdown = new AbortController();

  constructor(
    private readonly store: SessionStateStore,
    private readonly options: ResolvedSessionStateOptions,
    private readonly logger: Logger,
    /** Told of each stale lock broken, for metrics. */
    private readonly onStaleBroken: (id: string) => void = () => {},
  ) {}

  async acquireExclusive(id: string, signal: WaitSignal): Promise<ExclusiveAcquisition> {
    this.assertOpen();
    let queue = this.queues.get(id);
    if (!queue) this.queues.set(id, (queue = { id, turn: null, writers: [], readers: [] }));
    let waited = false;
    const local = new QueueTurn(this, id, queue);
    if (queue.turn) {
      // Only a holder that held the session's lock can have moved or ended it (not one that found
      // an unknown id, as we will).
      const wake = await this.wait(queue, queue.writers, signal);
      waited = wake.heldLock;
      local.turn = queue.turn!; // set for us by the hand-off (see `wakeNext`, `passLock`)
      if (wake.handedOver) return { result: wake.handedOver, waited, turn: local };
    } else {
      queue.turn = local.turn = {};
    }
    let releases: ReleaseWatching | undefined; // made only if the request waits for another process
    let brokeStale = false;
    try {
      for (let attempt = 0; ;) {
        const result = await this.store.getItemExclusive(id);
        if (result.kind !== 'locked') {
          if (result.kind === 'acquired') this.lockTaken(queue, local.turn);
          return brokeStale ? { result, waited, turn: local, brokeStale } : { result, waited, turn: local };
        }
        // Held by another process (or a stale holder): whoever queues behind us waits for it too. A
        // login or logout there must answer them as it answers us, not as an unknown id (README).
        waited = local.turn.afterLockHolder = true;
        if (await this.breakIfStale(id, result)) {
          brokeStale = true;
          continue;
        }
        // A store that announces releases: listen first, then try again (a release in between is heard).
        if (await (releases ??= new ReleaseWatching(this.store, id)).start()) continue;
        attempt = await this.pollUntilUnlocked(id, attempt, signal, releases.watch);
      }
    } catch (error) {
      local.releaseLocal();
      throw error;
    } finally {
      releases?.close();
    }
  }

  async acquireShared(id: string, signal: WaitSignal): Promise<Acquisition> {
    this.assertOpen();
    let waited = false;
    let woken = false;
    let brokeStale = false;
    let releases: ReleaseWatching | undefined; // made only if the request waits for another process
    // Set while this reader waits at the store for another process's lock on behalf of the readers of
    // this process, which queue behind it (counted by maxQueueLength) instead of each polling (review R18).
    let ahead: { queue: LocalQueue; turn: Turn } | undefined;
    try {
      for (let attempt = 0; ;) {
        // A writer of this process holds the session: wait for its hand-off instead of polling.
        const queue = this.queues.get(id);
        if (!ahead && queue?.turn && !woken) {
          woken = true;
          if ((await this.wait(queue, queue.readers, signal)).heldLock) waited = true;
          continue;
        }
        const result = await this.store.getItem(id);
        if (result.kind !== 'locked') return brokeStale ? { result, waited, brokeStale } : { result, waited };
        const local = this.queues.get(id);
        if (!ahead && local?.turn && !this.isStale(local.turn)) {
          // The holder (or the reader waiting at the store) is ours and live: wait for its hand-off.
          waited = true;
          woken = true;
          await this.wait(local, local.readers, signal);
          continue;
        }
        waited = true;
        if (await this.breakIfStale(id, result)) {
          brokeStale = true;
          continue;
        }
        ahead ??= this.waitAhead(id);
        if (await (releases ??= new ReleaseWatching(this.store, id)).start()) continue;
        if (releases.watch) await this.awaitRelease(releases.watch, signal);
        else await this.pause(attempt++, signal);
      }
    } finally {
      releases?.close();
      // The readers (and writers) queued behind it go on: to the store, or to a writer's turn.
      if (ahead && ahead.queue.turn === ahead.turn) this.handOff(id, ahead.queue, true);
    }
  }

  /**
   * A reader found the session locked by another process (or by a stale holder of this one): it takes
   * the turn of this process's queue, so that the other requests of the session wait behind it here.
   */
  private waitAhead(id: string): { queue: LocalQueue; turn: Turn } | undefined {
    let queue = this.queues.get(id);
    if (!queue) this.queues.set(id, (queue = { id, turn: null, writers: [], readers: [] }));
    if (queue.turn) return undefined; // a stale holder's turn: its timer hands it on
    const turn: Turn = (queue.turn = { afterLockHolder: true });
    return { queue, turn };
  }

  /** Requests of this process waiting for the session (for diagnostics and tests). */
  waiting(id: string): number {
    const queue = this.queues.get(id);
    return queue ? queue.writers.length + queue.readers.length : 0;
  }

  /** @internal Sessions this process holds or waits for (tests check that nothing is left behind). */
  get size(): number {
    return this.queues.size;
  }

  /** @internal (QueueTurn) Forgets the queue of a session nobody holds or waits for any more. */
  forget(id: string, queue: LocalQueue): void {
    if (!queue.turn && this.waiting(id) === 0 && this.queues.get(id) === queue) this.queues.delete(id);
  }

  /** Shutdown: waiting requests get a 503 instead of a lock (a holder's queue goes when it ends). */
  close(): void {
    this.closed = true;
    this.shutdown.abort();
    const error = new SessionStateWaitAbortedError('The application is shutting down.');
    for (const queue of Array.from(this.queues.values())) {
      this.clearStaleTimer(queue);
      for (const waiter of [...queue.writers.splice(0), ...queue.readers.splice(0)]) waiter.reject(error);
      this.forget(queue.id, queue);
    }
  }

  private lockTaken(queue: LocalQueue, turn: Turn): void {
    turn.lockedAt = Date.now();
    if (queue.writers.length + queue.readers.length > 0) this.armStaleTimer(queue, turn);
  }

  private clearStaleTimer(queue: LocalQueue): void {
    clearTimeout(queue.staleTimer);
    queue.staleTimer = undefined;
  }

  private isStale(turn: Turn): boolean {
    return turn.lockedAt !== undefined && Date.now() - turn.lockedAt >= this.options.executionTimeoutMs;
  }

  /**
   * A holder of this process that never finishes must not hold its waiters until they give up:
   * when its lock turns stale, the next writer takes the turn (and breaks the lock at the store)
   * and the readers go to the store. The stale holder's own hand-off then does nothing.
   */
  private armStaleTimer(queue: LocalQueue, turn: Turn): void {
    if (queue.staleTimer || turn.lockedAt === undefined) return;
    const delay = Math.max(0, turn.lockedAt + this.options.executionTimeoutMs - Date.now());
    queue.staleTimer = setTimeout(() => {
      queue.staleTimer = undefined;
      if (queue.turn !== turn) return;
      queue.turn = null;
      this.wakeNext(queue, true);
      this.forget(queue.id, queue); // only readers were woken, or nobody waits any more
    }, delay);
    queue.staleTimer.unref();
  }

  /** @internal (QueueTurn) */
  handOff(id: string, queue: LocalQueue, heldLock: boolean): void {
    this.clearStaleTimer(queue);
    queue.turn = null;
    this.wakeNext(queue, heldLock);
    // Woken readers go to the store without a turn: unless a writer took it, nobody is left here.
    this.forget(id, queue);
  }

  /** Wakes the readers and the next writer. */
  private wakeNext(queue: LocalQueue, heldLock: boolean): void {
    const readers = queue.readers.splice(0);
    for (const reader of readers) reader.resolve({ heldLock });
    const next = queue.writers.shift();
    if (next) {
      // The turn is `next`'s from now, before it resumes: a writer arriving meanwhile queues behind it.
      queue.turn = { afterLockHolder: heldLock };
      next.resolve({ heldLock });
    }
  }

  /**
   * The holder handed its store lock over (`handOverItemExclusive`): the next waiting writer takes
   * the turn with the lock already taken for it. When no writer waits any more (they left while
   * the store wrote), or the holder's turn was lost as stale meanwhile, the lock taken for nobody
   * is released.
   */
  /** @internal (QueueTurn) */
  async passLock(id: string, queue: LocalQueue, ownTurn: boolean, acquired: SessionStateAcquired): Promise<void> {
    const next = ownTurn ? queue.writers.shift() : undefined;
    if (next) {
      this.clearStaleTimer(queue);
      const turn: Turn = (queue.turn = { handOvers: (queue.turn?.handOvers ?? 0) + 1 });
      this.lockTaken(queue, turn);
      next.resolve({ heldLock: true, handedOver: acquired });
      return;
    }
    // The turn stays taken until the lock is released, so that a newcomer queues instead of polling.
    // (Lost as stale meanwhile, the turn is another writer's, which breaks the lock at the store.)
    const turn: Turn | undefined = ownTurn ? (queue.turn = { lockedAt: Date.now() }) : undefined;
    try {
      await this.store.releaseItemExclusive(id, acquired.lockId);
    } catch (error) {
      logOperationFailure(this.logger, 'Releasing a session lock', error, [id]);
    }
    if (turn && queue.turn === turn) this.handOff(id, queue, true);
    else if (!turn) this.forget(id, queue);
  }

  /** Waits for the hand-off: with whether a holder it waited behind held the session's lock. */
  private wait(queue: LocalQueue, line: Waiter[], waitSignal: WaitSignal): Promise<Wake> {
    const { maxQueueLength, retryAfterSeconds } = this.options.lockWait;
    if (queue.writers.length + queue.readers.length >= maxQueueLength) {
      return Promise.reject(new SessionStateQueueFullError(maxQueueLength, retryAfterSeconds));
    }
    const signal = signalOf(waitSignal);
    if (signal.aborted) return Promise.reject(abortedWhileWaiting());
    return new Promise<Wake>((resolve, reject) => {
      const leave = () => {
        const index = line.indexOf(waiter);
        if (index >= 0) line.splice(index, 1);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = () => (leave(), reject(abortedWhileWaiting()));
      const waiter: Waiter = {
        resolve: (wake) => (leave(), resolve(wake)),
        reject: (error) => (leave(), reject(error)),
      };
      signal.addEventListener('abort', onAbort, { once: true });
      line.push(waiter);
      if (queue.turn) this.armStaleTimer(queue, queue.turn);
    });
  }

  /** Breaks the holder's lock when it is older than `executionTimeout`; answers whether it tried. */
  private async breakIfStale(id: string, result: SessionStateLocked): Promise<boolean> {
    if (result.lockAge < this.options.executionTimeoutMs) return false;
    const broken = await this.store.releaseItemExclusive(id, result.lockId);
    if (broken) {
      this.onStaleBroken(id);
      this.logger.warn(
        `Broke a stale lock of session ${redactSessionId(id)} held for ${result.lockAge} ms (executionTimeout ${this.options.executionTimeoutMs} ms).`,
      );
    }
    return true;
  }

  /**
   * Another process holds the lock: poll it with the read-only probe (`getItem`, a read unit or half
   * of one) rather than lock attempts (a failed conditional write is charged a write unit, 5 to 10
   * times more), until it reads unlocked (or stale: broken here). Answers the next attempt number.
   */
  private async pollUntilUnlocked(id: string, attempt: number, signal: WaitSignal, watch: SessionStateReleaseWatch | undefined): Promise<number> {
    for (;;) {
      if (watch) {
        // Woken by the release: straight to the lock (a probe would only cost a round trip).
        if ((await this.awaitRelease(watch, signal)) === 'released') return attempt;
      } else {
        await this.pause(attempt++, signal);
      }
      const probe = await this.store.probeLock(id);
      if (!probe || (await this.breakIfStale(id, probe))) return attempt;
    }
  }

  /** The next release the store announces, or its fallback pause. */
  private async awaitRelease(watch: SessionStateReleaseWatch, waitSignal: WaitSignal): Promise<'released' | 'timeout'> {
    const answer = await this.waitAtStore(waitSignal, (signal) => watch.next(signal));
    this.assertOpen();
    if (answer === 'aborted') throw abortedWhileWaiting();
    return answer;
  }

  private async pause(attempt: number, waitSignal: WaitSignal): Promise<void> {
    const { pollMinMs, pollMaxMs } = this.options.lockWait;
    const ceiling = Math.min(pollMaxMs, pollMinMs * 2 ** Math.min(attempt, 20));
    try {
      await this.waitAtStore(waitSignal, (signal) => sleep(ceiling / 2 + Math.random() * (ceiling / 2), undefined, { signal }));
    } catch {
      this.assertOpen(); // shutdown: answered as a request queued in this process is
      throw abortedWhileWaiting();
    }
    this.assertOpen();
  }

  /** Runs a wait at the store with a signal that aborts when the request's does or shutdown begins. */
  private async waitAtStore<T>(waitSignal: WaitSignal, wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.assertOpen();
    const either = new AbortController();
    const stop = () => either.abort();
    const stopOnRequest = onAbort(waitSignal, stop);
    const stopOnShutdown = onAbort(this.shutdown.signal, stop);
    try {
      return await wait(either.signal);
    } finally {
      stopOnRequest();
      stopOnShutdown();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new SessionStateWaitAbortedError('The application is shutting down.');
  }
}

/**
 * A request's watch on its session's releases, for a store that announces them (`watchReleases`):
 * opened at the first wait for another process's lock, closed when the request stops waiting.
 * A store that cannot listen (or is told not to) leaves the request to poll.
 */
class ReleaseWatching {
  watch: SessionStateReleaseWatch | undefined;
  private started = false;

  constructor(
    private readonly store: SessionStateStore,
    private readonly id: string,
  ) {}

  /** Opens the watch once; answers whether it just did (then the caller tries again at once). */
  async start(): Promise<boolean> {
    if (this.started || !this.store.watchReleases) return false;
    this.started = true;
    this.watch = await this.store.watchReleases(this.id).catch(() => undefined);
    return this.watch !== undefined;
  }

  close(): void {
    this.watch?.close();
    this.watch = undefined;
  }
}

function abortedWhileWaiting(): SessionStateWaitAbortedError {
  return new SessionStateWaitAbortedError('The request was aborted while waiting for the session lock.');
}

/**
 * A writer's turn in this process's queue for a session (a class rather than closures: one is
 * made per read-write request).
 */
class QueueTurn implements LocalTurn {
  /** The turn as the queue holds it (`queue.turn` is this while the turn is ours); set by `acquireExclusive`. */
  turn!: Turn;
  private released = false;

  constructor(
    private readonly coordinator: SessionLockCoordinator,
    private readonly id: string,
    private readonly queue: LocalQueue,
  ) {}

  releaseLocal(): void {
    if (this.released) return;
    this.released = true;
    const { queue, turn } = this;
    if (queue.turn === turn) this.coordinator.handOff(this.id, queue, turn.lockedAt !== undefined || turn.afterLockHolder === true);
    else this.coordinator.forget(this.id, queue); // the turn was lost as stale
  }

  canHandOver(): boolean {
    const { queue, turn } = this;
    return !this.released && queue.turn === turn && queue.writers.length > 0 && queue.readers.length === 0 && (turn.handOvers ?? 0) < MAX_HAND_OVERS;
  }

  handOver(acquired: SessionStateAcquired): Promise<void> {
    if (this.released) return Promise.resolve();
    this.released = true;
    return this.coordinator.passLock(this.id, this.queue, this.queue.turn === this.turn, acquired);
  }
}
