import type { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionStateQueueFullError, SessionStateWaitAbortedError } from '../errors/session-state.errors.js';
import { redactSessionId } from '../session-id.js';
import type { ResolvedSessionStateOptions } from '../session-state.options.js';
import type { SessionStateStore, SessionStateStoreItem } from '../store/session-state-store.js';

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/** This process's requests for one session: at most one of them talks to the store as writer. */
interface LocalQueue {
  writerActive: boolean;
  writers: Waiter[];
  readers: Waiter[];
}

export interface ExclusiveAcquisition {
  result: SessionStateStoreItem;
  /** Hands the session to this process's next waiting request. Call after the store lock is released. */
  releaseLocal(): void;
}

/**
 * Waits for session locks. Within the process, requests of one session queue here and are handed
 * the session the moment the previous one is done (no polling, and only one of them polls the store).
 * A lock held by another process is polled with exponential backoff and full jitter; a lock older
 * than `executionTimeout` is broken as stale.
 */
export class SessionLockCoordinator {
  private readonly queues = new Map<string, LocalQueue>();
  private closed = false;

  constructor(
    private readonly store: SessionStateStore,
    private readonly options: ResolvedSessionStateOptions,
    private readonly logger: Logger,
    /** (ops) Told of each stale lock broken, for metrics. */
    private readonly onStaleBroken: (id: string) => void = () => {},
  ) {}

  async acquireExclusive(id: string, signal: AbortSignal): Promise<ExclusiveAcquisition> {
    this.assertOpen();
    let queue = this.queues.get(id);
    if (!queue) this.queues.set(id, (queue = { writerActive: false, writers: [], readers: [] }));
    if (queue.writerActive) await this.wait(queue, queue.writers, signal);
    else queue.writerActive = true;

    let released = false;
    const releaseLocal = () => {
      if (!released) (released = true), this.handOff(id, queue);
    };
    try {
      for (let attempt = 0; ; attempt++) {
        const result = await this.store.getItemExclusive(id);
        if (!result.locked) return { result, releaseLocal };
        if (!(await this.breakIfStale(id, result))) await this.pause(attempt, signal);
      }
    } catch (error) {
      releaseLocal();
      throw error;
    }
  }

  async acquireShared(id: string, signal: AbortSignal): Promise<SessionStateStoreItem> {
    this.assertOpen();
    let justWoken = false;
    for (let attempt = 0; ; ) {
      const queue = this.queues.get(id);
      // A writer of this process holds the session: wait for its hand-off instead of polling.
      if (queue?.writerActive && !justWoken) {
        await this.wait(queue, queue.readers, signal);
        justWoken = true;
        continue;
      }
      justWoken = false;
      const result = await this.store.getItem(id);
      if (!result.locked) return result;
      if (this.queues.get(id)?.writerActive) continue; // the holder is ours: wait for its hand-off
      if (!(await this.breakIfStale(id, result))) await this.pause(attempt++, signal);
    }
  }

  /** Requests of this process waiting for the session (for diagnostics and tests). */
  waiting(id: string): number {
    const queue = this.queues.get(id);
    return queue ? queue.writers.length + queue.readers.length : 0;
  }

  /** Shutdown: waiting requests get a 503 instead of a lock. */
  close(): void {
    this.closed = true;
    const error = new SessionStateWaitAbortedError('The application is shutting down.');
    for (const queue of this.queues.values()) {
      for (const waiter of [...queue.writers.splice(0), ...queue.readers.splice(0)]) waiter.reject(error);
    }
  }

  private handOff(id: string, queue: LocalQueue): void {
    for (const reader of queue.readers.splice(0)) reader.resolve();
    const next = queue.writers.shift();
    if (next) return next.resolve(); // writerActive stays true: the session passes to `next`
    queue.writerActive = false;
    if (this.queues.get(id) === queue) this.queues.delete(id);
  }

  private wait(queue: LocalQueue, line: Waiter[], signal: AbortSignal): Promise<void> {
    const { maxQueueLength, retryAfterSeconds } = this.options.lockWait;
    if (queue.writers.length + queue.readers.length >= maxQueueLength) {
      return Promise.reject(new SessionStateQueueFullError(maxQueueLength, retryAfterSeconds));
    }
    if (signal.aborted) return Promise.reject(abortedWhileWaiting());
    return new Promise<void>((resolve, reject) => {
      const leave = () => {
        const index = line.indexOf(waiter);
        if (index >= 0) line.splice(index, 1);
        signal.removeEventListener('abort', onAbort);
        clearTimeout(timer);
      };
      const onAbort = () => (leave(), reject(abortedWhileWaiting()));
      const waiter: Waiter = {
        resolve: () => (leave(), resolve()),
        reject: (error) => (leave(), reject(error)),
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // A holder of this process that never finishes must not hold its waiters forever: after
      // executionTimeout they go to the store, where its lock is stale and gets broken.
      const timer = setTimeout(() => (leave(), resolve()), this.options.executionTimeoutMs);
      line.push(waiter);
    });
  }

  /** Breaks the holder's lock when it is older than `executionTimeout`; answers whether it tried. */
  private async breakIfStale(id: string, result: SessionStateStoreItem): Promise<boolean> {
    if (result.lockAge < this.options.executionTimeoutMs || result.lockId === null) return false;
    const broken = await this.store.releaseItemExclusive(id, result.lockId);
    if (broken) {
      this.onStaleBroken(id);
      this.logger.warn(
        `Broke a stale lock of session ${redactSessionId(id)} held for ${result.lockAge} ms (executionTimeout ${this.options.executionTimeoutMs} ms).`,
      );
    }
    return true;
  }

  private async pause(attempt: number, signal: AbortSignal): Promise<void> {
    const { pollMinMs, pollMaxMs } = this.options.lockWait;
    const ceiling = Math.min(pollMaxMs, pollMinMs * 2 ** Math.min(attempt, 20));
    try {
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2), undefined, { signal });
    } catch {
      throw abortedWhileWaiting();
    }
    this.assertOpen();
  }

  private assertOpen(): void {
    if (this.closed) throw new SessionStateWaitAbortedError('The application is shutting down.');
  }
}

function abortedWhileWaiting(): SessionStateWaitAbortedError {
  return new SessionStateWaitAbortedError('The request was aborted while waiting for the session lock.');
}
