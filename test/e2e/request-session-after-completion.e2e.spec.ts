/**
 * `req.session.regenerate()` and `destroy()` called once the request's session was completed (a `@Res()`
 * handler going on after its answer went out): nothing they change is saved, so their callback gets an
 * error, as `save()`'s does; never a success for a session left stored as it was.
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

type Answer = { send(body: string): unknown; raw?: NodeJS.EventEmitter } & NodeJS.EventEmitter;
/** What each late call's callback was given, by the handler that made it. */
const outcomes: string[] = [];

@Controller('x')
class LateCallsController {
  @SessionState(SessionStateBehavior.Required)
  @Post('seed')
  seed(@Req() req: { session: RequestSession }, @Res() res: Answer) {
    req.session.set('user', 'ann');
    res.send('ok');
  }

  @SessionState(SessionStateBehavior.Required)
  @Post(':method-after-answer')
  late(@Req() req: { session: RequestSession; params: { method: 'regenerate' | 'destroy' } }, @Res() res: Answer) {
    const method = req.params.method;
    (res.raw ?? res).once('finish', () => void req.session[method]((error) => outcomes.push(error ? (error as Error).message : 'succeeded')));
    res.send('ok');
  }
}

describe.each(ADAPTERS)('regenerate() and destroy() after the session was completed (%s)', (adapter) => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  beforeAll(async () => {
    store = new InMemorySessionStateStore();
    app = await createTestApp(
      adapter,
      { imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } })], controllers: [LateCallsController] },
      (a) => mountSessionState(a),
    );
  });
  afterAll(() => app.close());
  beforeEach(() => void outcomes.splice(0));

  it.each(['regenerate', 'destroy'])('%s(): its callback gets an error saying so; the session stays stored', async (method) => {
    const cookie = sessionCookie((await request(app.getHttpServer()).post('/x/seed').expect(201)).headers)!;
    await request(app.getHttpServer()).post(`/x/${method}-after-answer`).set('Cookie', cookie).expect(201);
    await vi.waitFor(() => expect(outcomes).toHaveLength(1));
    expect(outcomes[0]).toMatch(new RegExp(`req\\.session\\.${method}\\(\\): this request's session was already completed`));
    expect((await store.getItem(idOf(cookie))).kind).toBe('loaded');
  });
});
