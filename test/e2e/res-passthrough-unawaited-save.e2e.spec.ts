/**
 * A `@Res({ passthrough: true })` handler returns its answer for Nest to send: a `req.session` call of its
 * still running when it returns (a save it does not wait for) must not hold that answer back (Nest sends it
 * only once the handler's result is complete). Its session is completed at once, after the save in flight.
 */
import { Controller, Post, Req, Res, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
  type RequestSession,
} from '../../src/index.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { idOf } from './session-app.js';

@Controller('x')
class PassthroughController {
  @SessionState(SessionStateBehavior.Required)
  @Post('login')
  login(@Req() req: { session: RequestSession }, @Res({ passthrough: true }) _res: unknown) {
    req.session.set('user', 'ann');
    void req.session.save(() => {});
    return { ok: true };
  }
}

describe.each(ADAPTERS)('a @Res({ passthrough: true }) handler that returns while a req.session call runs (%s)', (adapter) => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  beforeAll(async () => {
    store = new InMemorySessionStateStore();
    app = await createTestApp(
      adapter,
      { imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' }, executionTimeout: 60 })], controllers: [PassthroughController] },
      (a) => mountSessionState(a),
    );
  });
  afterAll(() => app.close());

  it('is answered at once (Nest sends its value), with the new cookie; the session is stored unlocked', async () => {
    const answer = await request(app.getHttpServer()).post('/x/login').timeout(3000);
    expect(answer.status).toBe(201);
    expect(answer.body).toEqual({ ok: true });
    const cookie = sessionCookie(answer.headers);
    if (cookie) expect((await store.getItem(idOf(cookie))).kind).not.toBe('locked');
  });
});
