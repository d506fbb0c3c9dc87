import type * as OpenTelemetry from '@opentelemetry/api';
import type { RejectionReason } from '../errors/session-error-catalog.js';

/**
 * `@opentelemetry/api` is an optional peer dependency: loaded once, lazily (when the module starts,
 * not at import: a top-level await would keep CommonJS apps from `require()`-ing the package), and
 * only if the application has it. Without it (or without an SDK behind it) every method is a no-op.
 */
let api: Promise<typeof OpenTelemetry | undefined> | undefined;
function loadApi(): Promise<typeof OpenTelemetry | undefined> {
  api ??= import('@opentelemetry/api').catch(() => undefined);
  return api;
}

export const METER_NAME = 'nestjs-session-state';

export type LockWaitOutcome = 'acquired' | 'queue_full' | 'aborted' | 'stale_broken' | 'shutdown';
export type StoreOperationOutcome = 'ok' | 'condition_failed' | 'unavailable' | 'too_large' | 'corrupt';
export type { RejectionReason };

interface Instruments {
  lockWait: OpenTelemetry.Histogram;
  storeOperation: OpenTelemetry.Histogram;
  staleBroken: OpenTelemetry.Counter;
  lockLost: OpenTelemetry.Counter;
  rejected: OpenTelemetry.Counter;
  consumedCapacity: OpenTelemetry.Counter;
}

/** Buckets for durations in seconds: a lock hand-off is milliseconds, a stale lock up to minutes. */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * The module's instruments on the meter `nestjs-session-state` (docs/OPERATIONS.md: "Metrics"). Made when the
 * application starts, from the global meter provider registered by then.
 */
export class SessionStateMetrics {
  private constructor(private readonly instruments: Instruments | undefined) {}

  /** True when an OpenTelemetry SDK is registered: only then is anything measured (or asked of DynamoDB). */
  get enabled(): boolean {
    return this.instruments !== undefined;
  }

  static async create(): Promise<SessionStateMetrics> {
    const api = await loadApi();
    const meter = api?.metrics.getMeter(METER_NAME);
    // No SDK registered: the API answers its shared no-op meter.
    if (!api || !meter || meter === api.createNoopMeter()) return new SessionStateMetrics(undefined);
    const seconds = { unit: 's', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } };
    return new SessionStateMetrics({
      lockWait: meter.createHistogram('session_state.lock.wait.duration', {
        ...seconds,
        description: 'Time a request waited for its session (lock), by outcome.',
      }),
      storeOperation: meter.createHistogram('session_state.store.operation.duration', {
        ...seconds,
        description: 'Duration of one session store operation, by operation and outcome.',
      }),
      staleBroken: meter.createCounter('session_state.lock.stale_broken', {
        description: 'Locks broken because their holder exceeded executionTimeout.',
      }),
      lockLost: meter.createCounter('session_state.lock.lost', {
        description: 'Requests refused with 409 for their lock: fenced out (the lock was lost), or their session moved or ended while they waited.',
      }),
      rejected: meter.createCounter('session_state.request.rejected', {
        description: 'Requests refused by the session layer, by reason.',
      }),
      consumedCapacity: meter.createCounter('session_state.dynamodb.consumed_capacity', {
        description: 'DynamoDB capacity units consumed by the session store, by type (read, write).',
      }),
    });
  }

  lockWait(outcome: LockWaitOutcome, seconds: number): void {
    this.instruments?.lockWait.record(seconds, { 'session_state.outcome': outcome });
  }

  storeOperation(operation: string, outcome: StoreOperationOutcome, seconds: number): void {
    this.instruments?.storeOperation.record(seconds, { 'session_state.operation': operation, 'session_state.outcome': outcome });
  }

  staleBroken(): void {
    this.instruments?.staleBroken.add(1);
  }

  lockLost(): void {
    this.instruments?.lockLost.add(1);
  }

  rejected(reason: RejectionReason): void {
    this.instruments?.rejected.add(1, { reason });
  }

  consumedCapacity(type: 'read' | 'write', units: number): void {
    if (units > 0) this.instruments?.consumedCapacity.add(units, { type });
  }
}

/** Seconds since `start` (a `performance.now()` reading). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
