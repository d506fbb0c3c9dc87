import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { SessionStateHealthIndicator } from 'nestjs-session-state/health';

/** `GET /health`: 200 when the session store is up (DynamoDB: its table is ACTIVE, checked at most every 5 s), else 503. */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly sessions: SessionStateHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.sessions.isHealthy()]);
  }
}
