import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { SessionStateStore } from '../store/session-state-store.js';
import { withinTime } from '../store/within-time.js';

/** Options of `SessionStateHealthIndicator.isHealthy` (as terminus's own indicators take them). */
export interface SessionStateHealthCheckOptions {
  /**
   * How long the store's `checkHealth()` may take, ms, before the indicator answers down (a check
   * waiting on a dead connection must not hang the probe). Default 5000: the DynamoDB store's own
   * request bound (`requestTimeoutMs`), so its answers are never cut short by default.
   */
  readonly timeout?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const TIMED_OUT = Symbol('timed out');

/**
 * A `@nestjs/terminus` health indicator for the configured session store. DynamoDB: the table is
 * reachable and ACTIVE (one `DescribeTable`, cached for 5 s: never a read of sessions). In memory:
 * always up. Provide it next to `TerminusModule` and call it from a `@HealthCheck()` route:
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.sessions.isHealthy()]); }
 * ```
 *
 * A check that does not answer within `timeout` (default 5 s) is down.
 */
@Injectable()
export class SessionStateHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(SessionStateStore) private readonly store: SessionStateStore,
  ) {}

  async isHealthy<const Key extends string = 'session_store'>(
    key: Key = 'session_store' as Key,
    options: SessionStateHealthCheckOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
    if (!(Number.isFinite(timeout) && timeout > 0 && timeout <= 2 ** 31 - 1)) {
      throw new RangeError(`SessionStateHealthIndicator.isHealthy: timeout must be a number of ms from 1 to 2^31-1, got ${String(timeout)}.`);
    }
    const indicator = this.indicators.check(key);
    try {
      const answer = await withinTime(this.store.checkHealth(), timeout, (): typeof TIMED_OUT => TIMED_OUT);
      if (answer === TIMED_OUT) {
        return indicator.down({ error: 'Timeout', message: `the session store's checkHealth() did not answer within ${timeout} ms` });
      }
      const { up, details = {} } = answer;
      return up ? indicator.up(details) : indicator.down(details);
    } catch (error) {
      // A store whose check throws is down; its message may carry internals, its class does not.
      return indicator.down({ error: error instanceof Error ? error.name : 'Error' });
    }
  }
}
