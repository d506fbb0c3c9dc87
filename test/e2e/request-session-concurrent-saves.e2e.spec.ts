/**
 * Mid-request saves (`req.session.save()`) of one request run one after another, and the request's
 * completion waits for a save in flight. express-session code saves without waiting (`save()` with no
 * callback) before another save (passport's login's), or a handler returns while its save runs: both
 * saves succeed, as the data is stored, and the session is left stored under its new id, unlocked.
 */
import { Controller, HttpCode, Post, Req, type INestApplication } from '@nestjs/common';
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
class ConcurrentSavesController {
  @SessionState(SessionStateBehavior.Required)
  @Post('seed')
  @HttpCode(200)
  seed(@Req() req: { session: RequestSession }) {
    req.session.set('cart', ['book']);
    return 'ok';
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('regenerate-save-save')
  @HttpCode(200)
  async regenerateSaveSave(@Req() req: { session: RequestSession }) {
    await req.session.regenerate();
    req.session.set('user', 'ann');
    const outcome = (p: Promise<void>) =>
      p.then(
        () => 'saved',
        (e: Error) => e.message,
      );
    return { saves: await Promise.all([outcome(req.session.save()), outcome(req.session.save())]) };
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('regenerate-save-unawaited')
  @HttpCode(200)
  async regenerateSaveUnawaited(@Req() req: { session: RequestSession }) {
    await req.session.regenerate();
    req.session.set('user', 'bob');
    void req.session.save().catch(() => {});
    return 'ok';
  }
}

describe.each(ADAPTERS)('two save() calls in flight after regenerate() (%s)', (adapter) => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  beforeAll(async () => {
    store = new InMemorySessionStateStore();
    app = await createTestApp(
      adapter,
      { imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } })], controllers: [ConcurrentSavesController] },
      (a) => mountSessionState(a),
    );
  });
  afterAll(() => app.close());

  it('both report a success, as the data is saved; one session under the new id, unlocked', async () => {
    const before = sessionCookie((await request(app.getHttpServer()).post('/x/seed').expect(200)).headers)!;
    const answer = await request(app.getHttpServer()).post('/x/regenerate-save-save').set('Cookie', before).expect(200);
    const cookie = sessionCookie(answer.headers)!;
    expect((await store.getItem(idOf(cookie))).kind).toBe('loaded');
    expect(answer.body).toEqual({ saves: ['saved', 'saved'] });
  });

  it('a save the handler does not wait for is waited for by completion: 200 with the new cookie, its id stored and unlocked', async () => {
    const before = sessionCookie((await request(app.getHttpServer()).post('/x/seed').expect(200)).headers)!;
    const answer = await request(app.getHttpServer()).post('/x/regenerate-save-unawaited').set('Cookie', before);
    expect(answer.status).toBe(200);
    const cookie = sessionCookie(answer.headers)!;
    expect(cookie).not.toBe(before);
    expect((await store.getItem(idOf(cookie))).kind).toBe('loaded');
    expect((await store.getItem(idOf(before))).kind).not.toBe('loaded');
  });
});
