/**
 * Review R28: a save the handler did not wait for fails (the move's removal of the old id gets no
 * answer) while completion waits for it: never a 2xx for changes not saved, no lock left, one session.
 */
import { Controller, HttpCode, Post, Req, Res, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { SessionState, SessionStateBehavior, SessionStateModule, mountSessionState, type RequestSession } from '../../src/index.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { sendStatus, type EitherResponse } from '../support/send-status.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { idOf } from './session-app.js';
import { UnansweredRemovalStore } from '../support/unanswered-removal-store.js';

type Sess = RequestSession & {
  set(k: string, v: unknown): void;
  get(k: string): unknown;
  regenerate(cb?: (e?: unknown) => void): Promise<void>;
  save(cb?: (e?: unknown) => void): Promise<void>;
};

@Controller('x')
class C {
  @SessionState(SessionStateBehavior.Required)
  @Post('seed')
  seed(@Req() req: { session: Sess }, @Res() res: EitherResponse) {
    req.session.set('n', 1);
    sendStatus(res, 201, 'ok');
  }

  /** A JSON handler that does not wait for its save. */
  @SessionState(SessionStateBehavior.Required)
  @Post('json')
  @HttpCode(200)
  async json(@Req() req: { session: Sess }) {
    await req.session.regenerate();
    req.session.set('user', 'john');
    void req.session.save().catch(() => {});
    return 'ok';
  }

  /** A @Res() login answering from its callback. */
  @SessionState(SessionStateBehavior.Required)
  @Post('res')
  res(@Req() req: { session: Sess }, @Res() res: EitherResponse) {
    void req.session.regenerate(() => {
      req.session.set('user', 'john');
      void req.session.save((e) => (e ? sendStatus(res, 500, (e as Error).message) : sendStatus(res, 200, 'ok')));
    });
  }
}

describe.each(ADAPTERS)('a mid-request save whose move fails while completion waits for it (%s)', (adapter) => {
  let app: INestApplication;
  let store: UnansweredRemovalStore;
  beforeAll(async () => {
    store = new UnansweredRemovalStore();
    app = await createTestApp(
      adapter,
      { imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' }, executionTimeout: 5 })], controllers: [C] },
      (a) => mountSessionState(a),
    );
  });
  afterAll(() => app.close());

  it.each(['json', 'res'])('%s: the answer is a success only if the new session is stored; nothing left locked', async (path) => {
    const cookie = sessionCookie((await request(app.getHttpServer()).post('/x/seed').expect(201)).headers)!;
    store.fail = true;
    const r = await request(app.getHttpServer()).post(`/x/${path}`).set('Cookie', cookie).timeout(4000);
    store.fail = false;
    // Its completion (and whatever it releases) is over before the store is looked at.
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    const fresh = sessionCookie(r.headers);
    const locked = [...store.stored().entries()]
      .filter(([, rec]) => rec.lockId !== null)
      .map(([id]) => (id === idOf(cookie) ? 'old' : id === (fresh && idOf(fresh)) ? 'new' : 'other'));
    expect(locked).toEqual([]);
    if (r.status < 400) {
      expect(fresh).toBeDefined();
      expect(JSON.parse(store.stored().get(idOf(fresh!))!.items)).toMatchObject({ user: 'john' });
    }
  });
});
