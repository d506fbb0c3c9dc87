import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { SessionStateStore } from '../store/session-state-store.js';

/**
 * A `@nestjs/terminus` health indicator for the configured session store. DynamoDB: the table is
 * reachable and ACTIVE (one `DescribeTable`, cached for 5 s: never a read of sessions). In memory:
 * always up. Provide it next to `TerminusModule` and call it from a `@HealthCheck()` route:
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.sessions.isHealthy()]); }
 * ```
 */
@Injectable()
export class SessionStateHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(SessionStateStore) private readonly store: SessionStateStore,
  ) {}

  async isHealthy<const Key extends string = 'session_store'>(key: Key = 'session_store' as Key): Promise<HealthIndicatorResult<Key>> {
    const indicator = this.indicators.check(key);
    try {
      const { up, details = {} } = await this.store.checkHealth();
      return up ? indicator.up(details) : indicator.down(details);
    } catch (error) {
      // A store whose check throws is down; its message may carry internals, its class does not.
      return indicator.down({ error: error instanceof Error ? error.name : 'Error' });
    }
  }
}
