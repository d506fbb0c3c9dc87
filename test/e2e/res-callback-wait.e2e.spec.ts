/**
 * Review R28: a @Res() handler that returns while a req.session call of its runs (passport's
 * req.login(user, cb)) is completed when its answer ends. Probes: concurrency, next(err), store faults.
 */
import { Controller, Get, Next, Post, Req, Res, type INestApplication } from '@nestjs/common';
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
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { sendStatus, type EitherResponse } from '../support/send-status.js';
import { idOf } from './session-app.js';
import { Gates } from '../support/gates.js';

type Sess = RequestSession & {
  set(k: string, v: unknown): void;
  get(k: string): unknown;
  regenerate(cb?: (e?: unknown) => void): Promise<void>;
  save(cb?: (e?: unknown) => void): Promise<void>;
};
type Answer = { status?: unknown; code?: unknown; send(body: string): unknown; redirect?: unknown };
const gates = new Gates();
let parkNextSave = false;
/** Parks the next mid-request save (setItemExclusive) on the gate 'login': the login's save() is in flight meanwhile. */
class ParkingStore extends InMemorySessionStateStore {
  override async setItemExclusive(...args: Parameters<InMemorySessionStateStore['setItemExclusive']>): Promise<string> {
    if (parkNextSave) {
      parkNextSave = false;
      await gates.pass('login');
    }
    return super.setItemExclusive(...args);
  }
}
const send = (res: Answer, status: number, body: string) => sendStatus(res as EitherResponse, status, body);

@Controller('x')
class C {
  @SessionState(SessionStateBehavior.Required)
  @Post('seed')
  seed(@Req() req: { session: Sess }, @Res() res: Answer) {
    req.session.set('n', 1);
    send(res, 201, 'ok');
  }

  /** A login in passport's shape (regenerate, set the user, save, answer from the callback), parked on a gate mid-way. */
  @SessionState(SessionStateBehavior.Required)
  @Post('login')
  login(@Req() req: { session: Sess }, @Res() res: Answer) {
    void req.session.regenerate((err) => {
      if (err) return send(res, 500, (err as Error).message);
      req.session.set('user', 'john');
      parkNextSave = true;
      void req.session.save((e) => (e ? send(res, 500, (e as Error).message) : send(res, 200, 'in')));
    });
  }

  /** Increments n (another request of the same session). */
  @SessionState(SessionStateBehavior.Required)
  @Post('inc')
  inc(@Req() req: { session: Sess }) {
    req.session.set('n', ((req.session.get('n') as number) ?? 0) + 1);
    return { n: req.session.get('n') };
  }

  /** next(err) from the callback of a req.session call (Express's way of reporting a handler error). */
  @SessionState(SessionStateBehavior.Required)
  @Post('next-err')
  nextErr(@Req() req: { session: Sess }, @Res() _res: unknown, @Next() next: (e?: unknown) => void) {
    void req.session.regenerate(() => {
      req.session.set('user', 'mallory');
      next(new Error('login failed'));
    });
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('me')
  me(@Req() req: { session: Sess }) {
    return { n: req.session.get('n') ?? null, user: req.session.get('user') ?? null };
  }
}

describe.each(ADAPTERS)('@Res() handler answering from a req.session callback (%s)', (adapter) => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  const http = () => request(app.getHttpServer());
  beforeAll(async () => {
    store = new ParkingStore();
    app = await createTestApp(
      adapter,
      { imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' }, executionTimeout: 5 })], controllers: [C] },
      (a) => mountSessionState(a),
    );
  });
  afterAll(async () => {
    gates.openAll();
    await app.close();
  });

  it('a second request of the session waits for a @Res() login parked in its callback, then sees the login or is refused; no lost update, no lock left', async () => {
    const cookie = sessionCookie((await http().post('/x/seed').expect(201)).headers)!;
    const login = http()
      .post('/x/login')
      .set('Cookie', cookie)
      .then((r) => r);
    await gates.arrived('login');
    const inc = http()
      .post('/x/inc')
      .set('Cookie', cookie)
      .timeout(4000)
      .then(
        (r) => r,
        (e: unknown) => e as never,
      );
    // The second request waits in this process's queue for the login's lock, or is answered at once
    // (the login already moved the session: refused).
    const queued = vi.waitFor(() => expect(app.get(SessionStateLifecycle).locks.waiting(idOf(cookie))).toBe(1), { timeout: 4000 });
    await Promise.race([inc, queued.catch(() => {})]);
    gates.open('login');
    const [a, b] = await Promise.all([login, inc]);
    expect(a.status).toBe(200);
    const newCookie = sessionCookie(a.headers)!;
    expect(newCookie).toBeDefined();
    // The second request is refused (the session moved) or ran after the login, on its data.
    expect([200, 201, 409]).toContain(b.status);
    const me = await http()
      .get('/x/me')
      .set('Cookie', sessionCookie(b.headers) ?? newCookie)
      .timeout(2000);
    expect(me.body.user).toBe('john');
    if (b.status < 300) expect(me.body.n).toBe(2);
    expect((await store.getItem(idOf(newCookie))).kind).toBe('loaded');
    expect((await store.getItem(idOf(cookie))).kind).not.toBe('locked');
  });

  it.runIf(adapter === 'express')(
    'next(err) from the callback: an error answer, the changes of the failed handler not saved (no new cookie, old session as it was)',
    async () => {
      const cookie = sessionCookie((await http().post('/x/seed').expect(201)).headers)!;
      const r = await http().post('/x/next-err').set('Cookie', cookie).timeout(3000);
      expect(r.status).toBe(500);
      // A handler error discards its changes (README): the half-done login is not stored, no cookie for it.
      expect(sessionCookie(r.headers)).toBeUndefined();
      const me = await http().get('/x/me').set('Cookie', cookie).timeout(2000);
      expect(me.body).toEqual({ n: 1, user: null });
    },
  );
});
