import { Inject, Injectable } from '@nestjs/common';
import { sessionErrorOf } from '../errors/session-error-catalog.js';
import { SessionStateQueueFullError, SessionStateWaitAbortedError } from '../errors/session-state.errors.js';
import { secondsSince, SessionStateMetrics } from './session-state-metrics.js';

/**
 * What the lifecycle reports about requests and locks (store operations are measured by
 * `InstrumentedSessionStateStore`). Kept apart from the lifecycle so that it only calls in.
 */
@Injectable()
export class SessionStateObserver {
  constructor(@Inject(SessionStateMetrics) private readonly metrics: SessionStateMetrics) {}

  /** Times one lock acquisition through the coordinator (`session_state.lock.wait.duration`). */
  lockWait<T extends { brokeStale?: true }>(closing: () => boolean, acquisition: Promise<T>): Promise<T> {
    // Without an OpenTelemetry SDK there is nothing to time: the acquisition itself, no extra promise per request.
    return this.metrics.enabled ? this.timedLockWait(closing, acquisition, performance.now()) : acquisition;
  }

  private async timedLockWait<T extends { brokeStale?: true }>(closing: () => boolean, acquisition: Promise<T>, start: number): Promise<T> {
    try {
      const acquired = await acquisition;
      // The acquisition that broke a stale lock says so itself (a flag per session id was taken by
      // whichever wait of that session ended first: review R7).
      this.metrics.lockWait(acquired.brokeStale ? 'stale_broken' : 'acquired', secondsSince(start));
      return acquired;
    } catch (error) {
      if (error instanceof SessionStateQueueFullError) this.metrics.lockWait('queue_full', secondsSince(start));
      else if (error instanceof SessionStateWaitAbortedError) this.metrics.lockWait(closing() ? 'shutdown' : 'aborted', secondsSince(start));
      // A store failure while waiting is measured as a store operation.
      throw error;
    }
  }

  /** The coordinator broke a stale lock. */
  readonly staleBroken = (): void => this.metrics.staleBroken();

  /** A request the session layer refuses (its error becomes the response): counted by the error catalog's reason. */
  rejected(error: unknown, closing: boolean): void {
    const reason = sessionErrorOf(error, closing).rejection;
    if (!reason) return;
    this.metrics.rejected(reason);
    if (reason === 'lock_lost') this.metrics.lockLost();
  }
}
