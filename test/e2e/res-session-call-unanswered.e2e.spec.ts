/**
 * A `@Res()` handler that returned while a `req.session` call of its ran is completed when it ends its
 * answer, at the latest when its lock turns stale (`executionTimeout`): one whose callback answers late
 * (or never) does not keep the session locked past that. Its answer, when it comes, goes straight out.
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

type Answer = { send(body: string): unknown };
/** The answers the late handler left to send. */
const answerLater: (() => void)[] = [];

@Controller('x')
class LateAnswerController {
  @SessionState(SessionStateBehavior.Required)
  @Post('seed')
  seed(@Req() req: { session: RequestSession }, @Res() res: Answer) {
    req.session.set('n', 1);
    res.send('ok');
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('late')
  late(@Req() req: { session: RequestSession }, @Res() res: Answer) {
    req.session.set('n', 2);
    void req.session.save(() => answerLater.push(() => res.send('late')));
  }
}

describe.each(ADAPTERS)('a @Res() handler whose session call answers late (%s)', (adapter) => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  beforeAll(async () => {
    store = new InMemorySessionStateStore();
    app = await createTestApp(
      adapter,
      { imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' }, executionTimeout: 1 })], controllers: [LateAnswerController] },
      (a) => mountSessionState(a),
    );
  });
  afterAll(() => app.close());

  it('its session is completed (unlocked) when the lock turns stale; the answer then goes out as it comes', async () => {
    const cookie = sessionCookie((await request(app.getHttpServer()).post('/x/seed').expect(201)).headers)!;
    const late = request(app.getHttpServer())
      .post('/x/late')
      .set('Cookie', cookie)
      .then((r) => r);
    await vi.waitFor(() => expect(answerLater).toHaveLength(1));
    expect((await store.getItem(idOf(cookie))).kind).toBe('locked');
    await vi.waitFor(async () => expect((await store.getItem(idOf(cookie))).kind).toBe('loaded'), { timeout: 3000, interval: 50 });
    answerLater.shift()!();
    const answer = await late;
    expect(answer.status).toBe(201);
    expect(answer.text).toBe('late');
  });
});
