/**
 * The req.session mount: a middleware's destroy() before a route that writes and the mount path
 * matched as Express routes (Express), one session Set-Cookie per answer after mid-request saves
 * (both adapters).
 */
import { Controller, Get, HttpCode, Post, Req, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { NextFunction, Request, Response } from 'express';
import passport from 'passport';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
  type HttpSessionState,
  type RequestSession,
} from '../../src/index.js';
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';

const idOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1);
const sessionOf = (req: Request) => req.session as unknown as RequestSession;
const setCookies = (headers: Record<string, unknown>) => ([] as string[]).concat((headers['set-cookie'] as string[] | undefined) ?? []);

@Controller()
class MountController {
  @Post('start')
  start(@Session() session: HttpSessionState) {
    session.set('cart', ['apple']);
    return 'ok';
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('read')
  read(@Req() req: Request) {
    return { data: { ...(req.session as unknown as Record<string, unknown>) } };
  }

  /** A route that writes: a middleware before it destroyed the session. */
  @SessionState(SessionStateBehavior.Required)
  @Post('after-destroy')
  @HttpCode(200)
  afterDestroy() {
    return { ok: true };
  }

  /**
   * A login that regenerates and saves (as passport does), then works a while before answering: the
   * test's clock moves past the next second, so the completion's cookie has another Expires than the save's.
   */
  @SessionState(SessionStateBehavior.Required)
  @Post('slow-login')
  @HttpCode(200)
  async slowLogin(@Req() req: Request) {
    await sessionOf(req).regenerate();
    (req.session as unknown as Record<string, unknown>).user = 'john';
    await sessionOf(req).save();
    vi.setSystemTime(Date.now() + 1100);
    return { ok: true };
  }

  /** A sign-up: the new anonymous session is saved, then the new user logged in (regenerate + save, as passport's logIn). */
  @SessionState(SessionStateBehavior.Required)
  @Post('signup')
  @HttpCode(200)
  async signup(@Req() req: Request) {
    (req.session as unknown as Record<string, unknown>).returnTo = '/welcome';
    await sessionOf(req).save();
    await sessionOf(req).regenerate();
    (req.session as unknown as Record<string, unknown>).user = 'new-user';
    await sessionOf(req).save();
    return { ok: true };
  }

  /** A route without lock: a removal applies to this request only; save() is refused, never a false success. */
  @SessionState(SessionStateBehavior.ReadOnly)
  @Post('sign-out-read-only')
  @HttpCode(200)
  async signOutReadOnly(@Req() req: Request) {
    delete (req.session as unknown as Record<string, unknown>).cart;
    const seen = { ...(req.session as unknown as Record<string, unknown>) };
    const saved = await sessionOf(req)
      .save()
      .then(
        () => 'saved',
        (error: Error) => `${error.name}: ${error.message}`,
      );
    let added = 'added';
    try {
      (req.session as unknown as Record<string, unknown>).user = 'x';
    } catch (error) {
      added = (error as Error).name;
    }
    return { seen, saved, added };
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('auth/me')
  authMe(@Req() req: Request) {
    return { session: req.session !== undefined };
  }
}

async function createApp(options: { path?: string; cookieMaxAge?: number; configure?: (app: INestApplication) => void; adapter?: AdapterName } = {}) {
  const store = new InMemorySessionStateStore();
  const moduleRef = await Test.createTestingModule({
    imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid', ...(options.cookieMaxAge ? { maxAge: options.cookieMaxAge } : {}) } })],
    controllers: [MountController],
  }).compile();
  const app =
    options.adapter === 'fastify'
      ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false })
      : moduleRef.createNestApplication({ logger: false });
  await mountSessionState(app, options.path ? { path: options.path } : {});
  options.configure?.(app);
  await app.init();
  if (options.adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return { app, store };
}

describe('req.session mount on Express', () => {
  it("a middleware's req.session.destroy() before a Required route: the session is removed (not kept, with its data)", async () => {
    const { app, store } = await createApp({
      configure: (a) =>
        a.use('/after-destroy', (req: Request, _res: Response, next: NextFunction) => {
          void sessionOf(req).destroy((e) => next(e));
        }),
    });
    try {
      const cookie = sessionCookie((await request(app.getHttpServer()).post('/start').expect(201)).headers)!;
      await request(app.getHttpServer()).post('/after-destroy').set('Cookie', cookie).expect(200);
      // As express-session: destroy() removes the session (carried over to the route's locked session).
      expect((await store.getItem(idOf(cookie))).kind).toBe('absent');
    } finally {
      await app.close();
    }
  });

  it('mount path on Express (case-insensitive routing): /AUTH/me is routed to /auth/me and must not answer 500', async () => {
    const { app } = await createApp({
      path: '/auth',
      configure: (a) => a.use('/auth', passport.initialize(), passport.session()),
    });
    try {
      const cookie = sessionCookie((await request(app.getHttpServer()).post('/start').expect(201)).headers)!;
      await request(app.getHttpServer()).get('/auth/me').set('Cookie', cookie).expect(200, { session: true });
      // Express routes /AUTH/me to the same handler and runs app.use('/auth', …) for it, but the mount
      // compares the path case-sensitively: passport.session() finds no req.session → 500.
      const res = await request(app.getHttpServer()).get('/AUTH/me').set('Cookie', cookie);
      expect(res.status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe.each(ADAPTERS)('a route without lock, on %s', (adapter) => {
  it('a removal through req.session applies to the request only (no throw, no hang); save() and any other write are refused', async () => {
    const warnings: string[] = [];
    const { app, store } = await createApp({
      adapter,
      configure: (a) => a.useLogger({ log() {}, error() {}, warn: (m: unknown) => void warnings.push(String(m)) }),
    });
    try {
      const cookie = sessionCookie((await request(app.getHttpServer()).post('/start').expect(201)).headers)!;
      const res = await request(app.getHttpServer()).post('/sign-out-read-only').set('Cookie', cookie).expect(200);
      expect(res.body.seen).toEqual({});
      expect(res.body.saved).toContain('SessionStateReadOnlyError');
      expect(res.body.saved).toContain('@SessionState(SessionStateBehavior.Required)');
      expect(res.body.added).toBe('SessionStateReadOnlyError');
      const stored = await store.getItem(idOf(cookie));
      expect(stored.kind === 'loaded' && JSON.parse(stored.item.items)).toEqual({ cart: ['apple'] });
      expect(warnings.filter((w) => w.includes('the change was not saved'))).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});

describe.each(ADAPTERS)('one session Set-Cookie per answer, on %s', (adapter) => {
  it('persistent cookie (cookie.maxAge): a mid-request save() then completion send one session Set-Cookie, not two', async () => {
    const { app, store } = await createApp({ cookieMaxAge: 600_000, adapter });
    vi.useFakeTimers({ toFake: ['Date'] }); // only Date: the handler moves it on (timers and I/O stay real)
    try {
      const res = await request(app.getHttpServer()).post('/slow-login').expect(200);
      const sids = setCookies(res.headers).filter((c) => c.startsWith('sid='));
      expect(sids.map((c) => c.split(';')[0])).toHaveLength(1);
      expect((await store.getItem(idOf(sids[0].split(';')[0]))).kind).toBe('loaded');
    } finally {
      vi.useRealTimers();
      await app.close();
    }
  });

  it('save() of a new session, then regenerate() + save() (sign-up then login): one session Set-Cookie, naming a stored id', async () => {
    const { app, store } = await createApp({ adapter });
    try {
      const res = await request(app.getHttpServer()).post('/signup').expect(200);
      const sids = setCookies(res.headers)
        .filter((c) => c.startsWith('sid='))
        .map((c) => c.split(';')[0]);
      for (const sid of sids) expect((await store.getItem(idOf(sid))).kind, `Set-Cookie ${sid.slice(0, 8)}… names a stored session`).toBe('loaded');
      expect(sids).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});
