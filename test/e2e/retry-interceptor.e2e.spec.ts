/**
 * An app interceptor that retries the handler once on an error (rxjs `retry(1)`). Under the default
 * binding the retry re-subscribes to the session interceptor, whose session the first attempt's error
 * already completed (its changes discarded): the retry is refused (409) and the handler not run again,
 * with a message that says so; it said "released as stale … a guard took longer than executionTimeout"
 * (review R26). Nothing is saved, and the lock is released.
 */
import { Controller, Get, HttpCode, Post, UseInterceptors, type CallHandler, type INestApplication, type NestInterceptor } from '@nestjs/common';
import { retry } from 'rxjs';
import request from 'supertest';
import { HttpSessionState, Session, SessionState, SessionStateBehavior, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';

const retryOnce: NestInterceptor = { intercept: (_context, next: CallHandler) => next.handle().pipe(retry(1)) };
let runs = 0;

@Controller('c')
class Counter {
  @Post('open')
  @HttpCode(200)
  open(@Session() s: HttpSessionState) {
    s.set('n', 0);
    return { ok: true };
  }

  @Post('inc')
  @HttpCode(200)
  @UseInterceptors(retryOnce)
  inc(@Session() s: HttpSessionState) {
    runs++;
    s.set('n', s.get<number>('n')! + 1);
    throw new Error('flaky downstream call');
  }

  @Get('n')
  @SessionState(SessionStateBehavior.ReadOnly)
  n(@Session() s: HttpSessionState) {
    return { n: s.get<number>('n') };
  }
}

describe.each(ADAPTERS)('an interceptor that retries the handler once, default binding (%s)', (adapter) => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await createTestApp(adapter, { imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })], controllers: [Counter] });
  });
  afterAll(() => app.close());

  it('the retry is refused (409: the session was completed by the first run), the handler not run again, nothing saved', async () => {
    const http = app.getHttpServer();
    const cookie = sessionCookie((await request(http).post('/c/open').expect(200)).headers)!;
    runs = 0;
    const answer = await request(http).post('/c/inc').set('Cookie', cookie);
    expect({ status: answer.status, runs, message: (answer.body as { message: string }).message }).toEqual({
      status: 409,
      runs: 1,
      message: expect.stringMatching(/already completed by an earlier run of its handler/),
    });
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    await request(http).get('/c/n').set('Cookie', cookie).expect(200, { n: 0 });
  });
});
