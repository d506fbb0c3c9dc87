/**
 * passport's documented login and logout in a custom route — `req.login(user, cb)` / `req.logout(cb)`, the
 * redirect sent from the callback — in a handler that takes `@Res()` and returns before the callback ran
 * (passport's docs: `req.login(user, function(err) { ... return res.redirect('/users/' + req.user.username); })`).
 * As with express-session: a 302 with the new cookie, the next request signed in and answered at once (no
 * lock left on the new id), the old id gone. The same shapes in @fastify/session's API on Fastify, and
 * expressjs/session's README login and logout examples.
 */
import { Controller, Get, HttpCode, Module, Post, Req, Res, type INestApplication } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Request, Response } from 'express';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
  type RequestSession,
} from '../../src/index.js';
import { LocalStrategy, SessionSerializer, configureExpressPassport } from './fixtures/passport-recipe.js';
import { sessionCookie } from '../support/test-app.js';
import { idOf } from './session-app.js';

type Data = RequestSession & Record<string, unknown>;
const s = (req: { session?: unknown }) => req.session as Data;

@Controller('x')
class ExpressLoginController {
  /** An anonymous visit that stores something (the OAuth "state", a cart): the session exists before the login. */
  @SessionState(SessionStateBehavior.Required)
  @Post('visit')
  visit(@Req() req: Request, @Res() res: Response) {
    s(req).state = 'abc';
    res.redirect('/provider');
  }

  /** passport's documented custom login: req.login(user, cb), redirect in the callback. */
  @SessionState(SessionStateBehavior.Required)
  @Post('login')
  login(@Req() req: Request, @Res() res: Response) {
    req.login({ id: 1, username: 'john' } as Express.User, (err) => {
      if (err) return res.status(500).json({ error: String(err) });
      res.redirect('/x/me');
    });
  }

  /** passport's documented logout ("Log Out"): req.logout(cb), redirect in the callback. */
  @SessionState(SessionStateBehavior.Required)
  @Post('logout')
  logout(@Req() req: Request, @Res() res: Response) {
    req.logout((err) => {
      if (err) return res.status(500).json({ error: String(err) });
      res.redirect('/x/me');
    });
  }

  /** A login awaited (works): the session the logout test starts from. */
  @SessionState(SessionStateBehavior.Required)
  @Post('login-awaited')
  @HttpCode(200)
  async loginAwaited(@Req() req: Request) {
    await new Promise<void>((resolve, reject) => req.login({ id: 1, username: 'john' } as Express.User, (e) => (e ? reject(e) : resolve())));
    return 'ok';
  }

  /** The same login not awaited by a handler that answers JSON itself (an app's slip): the login may land or not, but no lock may be left. */
  @SessionState(SessionStateBehavior.Required)
  @Post('login-nowait')
  @HttpCode(200)
  loginNoWait(@Req() req: Request) {
    req.login({ id: 1, username: 'john' } as Express.User, () => {});
    return { ok: true };
  }

  @Get('me')
  me(@Req() req: Request) {
    return { user: req.user ?? null };
  }
}

@Controller('x')
class FastifyLoginController {
  @SessionState(SessionStateBehavior.Required)
  @Post('visit')
  visit(@Req() req: { session: Data }, @Res() reply: { redirect(url: string, code: number): unknown }) {
    req.session.set('state', 'abc');
    void reply.redirect('/provider', 302);
  }

  /** @fastify/session's API, chained (not awaited by the handler): regenerate, sign in, save, redirect. */
  @SessionState(SessionStateBehavior.Required)
  @Post('login')
  login(
    @Req() req: { session: Data },
    @Res() reply: { redirect(url: string, code: number): unknown; code(n: number): { send(b: unknown): unknown } },
  ) {
    void req.session
      .regenerate()
      .then(() => {
        req.session.set('user', 'john');
        return req.session.save();
      })
      .then(
        () => reply.redirect('/x/me', 302),
        (error: unknown) => reply.code(500).send({ error: String(error) }),
      );
  }

  /** @fastify/passport's logOut() in @fastify/session's API, chained: the user removed, save, regenerate, redirect. */
  @SessionState(SessionStateBehavior.Required)
  @Post('logout')
  logout(
    @Req() req: { session: Data },
    @Res() reply: { redirect(url: string, code: number): unknown; code(n: number): { send(b: unknown): unknown } },
  ) {
    req.session.set('user', undefined);
    void req.session
      .save()
      .then(() => req.session.regenerate())
      .then(
        () => reply.redirect('/x/me', 302),
        (error: unknown) => reply.code(500).send({ error: String(error) }),
      );
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('login-awaited')
  @HttpCode(200)
  async loginAwaited(@Req() req: { session: Data }) {
    await req.session.regenerate();
    req.session.set('user', 'john');
    return 'ok';
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('login-nowait')
  @HttpCode(200)
  loginNoWait(@Req() req: { session: Data }) {
    void req.session
      .regenerate()
      .then(() => (req.session.set('user', 'john'), req.session.save()))
      .catch(() => {});
    return { ok: true };
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('me')
  me(@Req() req: { session: Data }) {
    return { user: req.session.get('user') ?? null };
  }
}

async function expressApp(store: InMemorySessionStateStore): Promise<INestApplication> {
  @Module({
    imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } }), PassportModule.register({ session: true })],
    controllers: [ExpressLoginController],
    providers: [LocalStrategy, SessionSerializer],
  })
  class M {}
  const app = (await Test.createTestingModule({ imports: [M] }).compile()).createNestApplication({ logger: false });
  await configureExpressPassport(app);
  await app.init();
  return app;
}

async function fastifyApp(store: InMemorySessionStateStore): Promise<INestApplication> {
  @Module({ imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } })], controllers: [FastifyLoginController] })
  class M {}
  const app = (await Test.createTestingModule({ imports: [M] }).compile()).createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
    logger: false,
  });
  await mountSessionState(app);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

describe.each([
  ['express', expressApp, { id: 1, username: 'john' }],
  ['fastify', fastifyApp, 'john'],
] as const)('a login whose redirect is sent from its callback, in a @Res() handler that returned (%s)', (_name, make, user) => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  const http = () => request(app.getHttpServer());
  beforeAll(async () => {
    store = new InMemorySessionStateStore();
    app = await make(store);
  });
  afterAll(() => app.close());

  it('without a session cookie: 302 with the new cookie; the next request is signed in', async () => {
    const login = await http().post('/x/login');
    expect(login.status).toBe(302);
    expect(login.headers.location).toBe('/x/me');
    const cookie = sessionCookie(login.headers);
    expect(cookie).toBeDefined();
    const me = await http().get('/x/me').set('Cookie', cookie!).timeout(3000);
    expect(me.body).toEqual({ user });
  });

  it('with a session cookie: 302 with a new cookie; the next request is answered at once (no lock left) and signed in; the old id is gone', async () => {
    const visit = await http().post('/x/visit').expect(302);
    const before = sessionCookie(visit.headers)!;
    const login = await http().post('/x/login').set('Cookie', before);
    expect(login.status).toBe(302);
    const cookie = sessionCookie(login.headers);
    expect(cookie).toBeDefined();
    expect(cookie).not.toBe(before);
    const me = await http().get('/x/me').set('Cookie', cookie!).timeout(3000);
    expect(me.body).toEqual({ user });
    expect((await store.getItem(idOf(before))).kind).not.toBe('loaded');
  });

  it('a logout whose redirect is sent from its callback: the 302 comes once the old id is gone (express-session destroys it in regenerate())', async () => {
    const cookie = sessionCookie((await http().post('/x/login-awaited').expect(200)).headers)!;
    const logout = await http().post('/x/logout').set('Cookie', cookie).timeout(3000);
    expect(logout.status).toBe(302);
    expect((await store.getItem(idOf(cookie))).kind).not.toBe('loaded');
  });

  it('a login not awaited by a JSON handler: never a 409 carrying a session cookie, and the id the cookie names is not left locked', async () => {
    const visit = await http().post('/x/visit').expect(302);
    const before = sessionCookie(visit.headers)!;
    const login = await http().post('/x/login-nowait').set('Cookie', before);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const cookie = sessionCookie(login.headers);
    if (login.status >= 400) expect(cookie).toBeUndefined();
    if (cookie) expect((await store.getItem(idOf(cookie))).kind).not.toBe('locked');
    const next = await http()
      .get('/x/me')
      .set('Cookie', cookie ?? before)
      .timeout(3000);
    expect(next.status).toBe(200);
  });
});

/** expressjs/session's README "User login" and logout examples, verbatim but for `@Res()` (a handler that returns before its callbacks run). */
@Controller()
class ExpressSessionReadmeController {
  @SessionState(SessionStateBehavior.Required)
  @Post('login')
  login(@Req() req: Request, @Res() res: Response) {
    req.session.regenerate(function (err) {
      if (err) return res.status(500).send(String(err));
      s(req).user = (req.body as { user: string }).user;
      req.session.save(function (err) {
        if (err) return res.status(500).send(String(err));
        res.redirect('/');
      });
    });
  }

  @SessionState(SessionStateBehavior.Required)
  @Get('logout')
  logout(@Req() req: Request, @Res() res: Response) {
    s(req).user = null;
    req.session.save(function (err) {
      if (err) return res.status(500).send(String(err));
      req.session.regenerate(function (err) {
        if (err) return res.status(500).send(String(err));
        res.redirect('/');
      });
    });
  }

  /** A login the test can rely on (awaited), to try the logout on. */
  @SessionState(SessionStateBehavior.Required)
  @Post('login-awaited')
  async loginAwaited(@Req() req: Request) {
    await s(req).regenerate();
    s(req).user = 'tj';
    return 'ok';
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get()
  home(@Req() req: Request) {
    return { user: s(req).user ?? null };
  }
}

describe("expressjs/session's README login and logout, in a @Res() handler (express)", () => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  const http = () => request(app.getHttpServer());
  beforeAll(async () => {
    store = new InMemorySessionStateStore();
    @Module({ imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } })], controllers: [ExpressSessionReadmeController] })
    class M {}
    app = (await Test.createTestingModule({ imports: [M] }).compile()).createNestApplication({ logger: false });
    await mountSessionState(app);
    await app.init();
  });
  afterAll(() => app.close());

  it('login: regenerate, set the user, save, redirect: 302 with the new cookie; the next request sees the user', async () => {
    const login = await http().post('/login').send({ user: 'tj' });
    expect(login.status).toBe(302);
    const cookie = sessionCookie(login.headers);
    expect(cookie).toBeDefined();
    expect((await http().get('/').set('Cookie', cookie!).timeout(3000)).body).toEqual({ user: 'tj' });
  });

  it('logout: user = null, save, regenerate, redirect: the 302 comes only once the old id is gone (regenerate() reported a success)', async () => {
    const cookie = sessionCookie((await http().post('/login-awaited').expect(201)).headers)!;
    const logout = await http().get('/logout').set('Cookie', cookie).timeout(3000);
    expect(logout.status).toBe(302);
    // express-session's regenerate() destroys the old id before its callback runs.
    expect((await store.getItem(idOf(cookie))).kind).not.toBe('loaded');
  });
});
