/**
 * The terminus indicator bounds the store's checkHealth(): a custom store whose check never answers
 * (a client waiting on a dead connection) makes the probe answer down, not hang until the
 * orchestrator's own probe timeout reads it as a failure of the whole process.
 */
import { Controller, Get, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateModule, type SessionStateStoreHealth } from 'nestjs-session-state';
import { SessionStateHealthIndicator } from 'nestjs-session-state/health';
import { createTestApp } from '../support/test-app.js';

/** A store whose health check is answered (or not) by the test. */
class ControlledHealthStore extends InMemorySessionStateStore {
  readonly checks: { resolve(health: SessionStateStoreHealth): void; reject(error: Error): void }[] = [];
  override checkHealth(): Promise<SessionStateStoreHealth> {
    return new Promise((resolve, reject) => this.checks.push({ resolve, reject }));
  }
}

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly sessions: SessionStateHealthIndicator,
  ) {}
  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.sessions.isHealthy('session_store', { timeout: 50 })]);
  }
}

@Module({ imports: [TerminusModule.forRoot()], controllers: [HealthController], providers: [SessionStateHealthIndicator] })
class HealthModule {}

describe('SessionStateHealthIndicator over a store whose checkHealth() does not answer', () => {
  afterEach(() => vi.useRealTimers());

  it('answers down (503) once the timeout option passes, saying the check did not answer', async () => {
    const store = new ControlledHealthStore();
    const app = await createTestApp('express', { imports: [SessionStateModule.forRoot({ store }), HealthModule] });
    try {
      const res = await request(app.getHttpServer()).get('/health').expect(503);
      expect(store.checks).toHaveLength(1);
      expect(res.body.error).toEqual({
        session_store: { status: 'down', error: 'Timeout', message: "the session store's checkHealth() did not answer within 50 ms" },
      });
      // A late failure of the abandoned check is ignored (no unhandled rejection), a later check answers again.
      store.checks[0]!.reject(new Error('connection closed'));
      const next = request(app.getHttpServer()).get('/health');
      const answered = next.then((r) => r);
      await vi.waitFor(() => expect(store.checks).toHaveLength(2));
      store.checks[1]!.resolve({ up: true });
      expect((await answered).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('by default waits 5 s, no less', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const store = new ControlledHealthStore();
    const indicator = new SessionStateHealthIndicator(new HealthIndicatorService(), store);
    let result: unknown;
    void indicator.isHealthy().then((answer) => (result = answer));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(result).toEqual({
      session_store: { status: 'down', error: 'Timeout', message: "the session store's checkHealth() did not answer within 5000 ms" },
    });
    store.close();
  });

  it('refuses a timeout that is not a positive number of ms', async () => {
    const store = new InMemorySessionStateStore();
    const indicator = new SessionStateHealthIndicator(new HealthIndicatorService(), store);
    await expect(indicator.isHealthy('session_store', { timeout: 0 })).rejects.toThrow(RangeError);
    await expect(indicator.isHealthy('session_store', { timeout: Number.NaN })).rejects.toThrow(RangeError);
    store.close();
  });
});
