/**
 * Cases of jaredhanson/passport's own tests (test/http/request.test.js,
 * test/middleware/authenticate*.test.js, test/strategies/session*.test.js) and of @nestjs/passport's
 * AuthGuard whose behaviour depends on the session, run on Express against `mountSessionState(app)` in
 * place of express-session. Written from what the upstream tests assert.
 */
import {
  Controller,
  Get,
  HttpCode,
  Inject,
  Injectable,
  Module,
  Post,
  Query,
  Req,
  Res,
  SetMetadata,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard, PassportModule, PassportSerializer, PassportStrategy } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import { json, type Request, type Response } from 'express';
import expressSession from 'express-session';
import passport, { Passport, type AuthenticateOptions } from 'passport';
import { Strategy } from 'passport-local';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  SessionStateStoreUnavailableError,
  mountSessionState,
  type RequestSession,
  type SessionStateStoreData,
} from '../../src/index.js';
import { sessionCookie } from '../support/test-app.js';

const idOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1);
const sessionOf = (req: Request) => req.session as unknown as RequestSession;

const USERS = [
  { id: 1, username: 'john', password: 'pw' },
  { id: 2, username: 'maria', password: 'pw' },
];
/** Ids whose deserializeUser answers null (strategies/session.test.js: "a user that no longer exists"). */
const gone = new Set<number>();

@Injectable()
class LocalStrategy extends PassportStrategy(Strategy) {
  validate(username: string, password: string) {
    const user = USERS.find((u) => u.username === username && u.password === password);
    return user ? { id: user.id, username: user.username } : null;
  }
}

@Injectable()
class Serializer extends PassportSerializer {
  serializeUser(user: { id: number }, done: (err: Error | null, id?: number) => void): void {
    done(null, user.id);
  }
  deserializeUser(id: number, done: (err: Error | null, user?: unknown) => void): void {
    // Asynchronous, as a database lookup (what pauseStream is for).
    setImmediate(() => {
      const user = gone.has(id) ? undefined : USERS.find((u) => u.id === id);
      done(null, user ? { id: user.id, username: user.username } : null);
    });
  }
}

const OPTIONS = Symbol('options');
const Authenticate = (options: AuthenticateOptions) => SetMetadata(OPTIONS, options);

/** passport.authenticate('local', options) as middleware inside a guard (its redirects and messages its own). */
@Injectable()
class AuthenticateGuard implements CanActivate {
  constructor(@Inject(Reflector) private readonly reflector: Reflector) {}
  canActivate(context: ExecutionContext): Promise<boolean> {
    const options = this.reflector.get<AuthenticateOptions>(OPTIONS, context.getHandler());
    const http = context.switchToHttp();
    return new Promise((resolve, reject) => {
      passport.authenticate('local', options)(http.getRequest(), http.getResponse(), (error?: unknown) => (error ? reject(error) : resolve(true)));
    });
  }
}

/** @nestjs/passport's AuthGuard calling its own logIn() (the module's options: session, keepSessionInfo). */
@Injectable()
class NestLoginGuard extends AuthGuard('local') {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const result = (await super.canActivate(context)) as boolean;
    await super.logIn(context.switchToHttp().getRequest());
    return result;
  }
}

const run = (fn: (cb: (error?: unknown) => void) => void) => new Promise<void>((resolve, reject) => fn((e) => (e ? reject(e) : resolve())));

@Controller()
@SessionState(SessionStateBehavior.Required)
class Ctl {
  /** docs/PASSPORT.md's recipe in place of ensureLoggedIn(): a Required handler stores returnTo and redirects itself. */
  @Get('members/:page')
  members(@Req() req: Request, @Res() res: Response) {
    if (req.isAuthenticated()) return res.json({ page: req.params.page });
    sessionOf(req).returnTo = req.originalUrl;
    res.redirect('/login-page');
  }

  @UseGuards(NestLoginGuard)
  @Post('login')
  @HttpCode(200)
  login(@Req() req: Request) {
    return { user: req.user, data: { ...sessionOf(req) } };
  }

  /** request.test.js "not establishing a session". */
  @UseGuards(AuthenticateGuard)
  @Authenticate({ session: false })
  @Post('login-no-session')
  @HttpCode(200)
  loginNoSession(@Req() req: Request) {
    return { user: req.user, authenticated: req.isAuthenticated() };
  }

  /** authenticate.success.test.js "success with return to previous location" (passport 0.6+: the returnTo kept with keepSessionInfo). */
  @UseGuards(AuthenticateGuard)
  @Authenticate({ successReturnToOrRedirect: '/default', keepSessionInfo: true })
  @Post('login-return')
  loginReturn() {
    return 'not reached';
  }

  /** authenticate.success.message.test.js "success with message set by route that is added to messages". */
  @UseGuards(AuthenticateGuard)
  @Authenticate({ successMessage: 'Login complete', successRedirect: '/me', keepSessionInfo: true })
  @Post('login-message')
  loginMessage() {
    return 'not reached';
  }

  /** authenticate.fail.message.test.js "fail with message set by route that is added to messages". */
  @UseGuards(AuthenticateGuard)
  @Authenticate({ failureMessage: 'Wrong credentials', failureRedirect: '/login-page' })
  @Post('login-fail')
  loginFail() {
    return 'not reached';
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Req() req: Request) {
    await run((cb) => req.logout(cb));
    return { authenticated: req.isAuthenticated(), user: req.user ?? null };
  }

  /** request.test.js "#logout existing session and keeping session data". */
  @Post('logout-keep')
  @HttpCode(200)
  async logoutKeep(@Req() req: Request) {
    await run((cb) => req.logout({ keepSessionInfo: true }, cb));
    return { authenticated: req.isAuthenticated(), user: req.user ?? null, data: { ...sessionOf(req) } };
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('me')
  me(@Req() req: Request) {
    return { authenticated: req.isAuthenticated(), user: req.user ?? null };
  }

  @Post('api/set')
  @HttpCode(200)
  set(@Req() req: Request) {
    Object.assign(sessionOf(req), req.body as object);
    return { id: sessionOf(req).id, user: req.user ?? null, body: req.body as unknown };
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('api/get')
  get(@Req() req: Request) {
    return { id: sessionOf(req).id, data: { ...sessionOf(req) } };
  }

  /** Keys read through get() (those named like a member of req.session are reached only so). */
  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('api/get-by-key')
  getByKey(@Req() req: Request, @Query('keys') keys: string) {
    return Object.fromEntries(keys.split(',').map((key) => [key, sessionOf(req).get(key)]));
  }

  /** Keys named like a member of req.session, written the only way they can be (set()), as @Session()'s set() does. */
  @Post('api/set-by-key')
  @HttpCode(200)
  setByKey(@Req() req: Request) {
    for (const [key, value] of Object.entries(req.body as object)) sessionOf(req).set(key, value);
    return { keys: Object.keys(sessionOf(req)) };
  }
}

/** The in-memory store whose mid-request saves fail while `failing` (a backend outage; a real in-memory store cannot produce it). */
class FailingSaveStore extends InMemorySessionStateStore {
  failing = false;
  override async setItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<string> {
    if (this.failing) throw new SessionStateStoreUnavailableError('the backend did not answer');
    return super.setItemExclusive(id, item, lockId, newItem);
  }
}

async function createApp(moduleOptions: Record<string, unknown> = { session: true }, beforeRoutes?: (app: INestApplication) => void) {
  const store = new FailingSaveStore();
  @Module({
    imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } }), PassportModule.register(moduleOptions)],
    controllers: [Ctl],
    providers: [LocalStrategy, Serializer, AuthenticateGuard],
  })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await mountSessionState(app);
  app.use(passport.initialize());
  app.use(passport.session());
  beforeRoutes?.(app);
  await app.init();
  return { app, store };
}

const JOHN = { username: 'john', password: 'pw' };

describe("passport's own cases through the mount (Express)", () => {
  let app: INestApplication;
  let store: FailingSaveStore;
  beforeAll(async () => ({ app, store } = await createApp()));
  afterAll(() => app.close());
  const http = () => request(app.getHttpServer());
  const withCookie = (req: request.Test, cookie?: string) => (cookie ? req.set('Cookie', cookie) : req);
  const cart = async () =>
    sessionCookie(
      (
        await http()
          .post('/api/set')
          .send({ cart: ['1', '2'] })
          .expect(200)
      ).headers,
    )!;
  const login = async (cookie?: string, user = JOHN) => {
    const res = await withCookie(http().post('/login'), cookie).send(user).expect(200);
    return sessionCookie(res.headers)!;
  };
  const stored = async (cookie: string) => (await store.getItem(idOf(cookie))).kind;

  it('request.test.js "#login not establishing a session": the user is set, the session neither regenerated nor written', async () => {
    const fresh = await http().post('/login-no-session').send(JOHN).expect(200);
    expect(fresh.body).toEqual({ user: { id: 1, username: 'john' }, authenticated: true });
    expect(sessionCookie(fresh.headers)).toBeUndefined();
    const cookie = await cart();
    const res = await http().post('/login-no-session').set('Cookie', cookie).send(JOHN).expect(200);
    expect(sessionCookie(res.headers)).toBeUndefined();
    await http()
      .get('/api/get')
      .set('Cookie', cookie)
      .expect(200, { id: idOf(cookie), data: { cart: ['1', '2'] } });
    await http().get('/me').set('Cookie', cookie).expect(200, { authenticated: false, user: null });
  });

  it('request.test.js "#login establishing a session" while another user is signed in: regenerated, serialized, the owner follows', async () => {
    const john = await login();
    const maria = await login(john, { username: 'maria', password: 'pw' });
    expect(maria).not.toBe(john);
    expect(await stored(john)).toBe('absent');
    await http()
      .get('/me')
      .set('Cookie', maria)
      .expect(200, { authenticated: true, user: { id: 2, username: 'maria' } });
    await store.revokeOwner('1');
    await http().get('/me').set('Cookie', maria).expect(200); // still maria's
    expect(await store.revokeOwner('2')).toBeGreaterThanOrEqual(1);
    await http().get('/me').set('Cookie', maria).expect(200, { authenticated: false, user: null });
  });

  it('request.test.js "#logout existing session and not keeping session data": user cleared, data gone', async () => {
    const cookie = await login(await cart());
    await http()
      .post('/api/set')
      .set('Cookie', cookie)
      .send({ cart: ['3'] })
      .expect(200);
    const res = await http().post('/logout').set('Cookie', cookie).expect(200, { authenticated: false, user: null });
    expect(sessionCookie(res.headers)).toBeUndefined();
    expect(await stored(cookie)).toBe('absent');
    await http()
      .get('/api/get')
      .set('Cookie', cookie)
      .expect(200)
      .expect((r) => expect(r.body.data).toEqual({}));
  });

  it('request.test.js "#logout existing session and keeping session data": user and serialized user cleared, the data kept under a new id', async () => {
    const cookie = await login();
    await http()
      .post('/api/set')
      .set('Cookie', cookie)
      .send({ cart: ['1', '2'] })
      .expect(200);
    const res = await http().post('/logout-keep').set('Cookie', cookie).expect(200);
    expect(res.body).toEqual({ authenticated: false, user: null, data: { cart: ['1', '2'], passport: {} } });
    const moved = sessionCookie(res.headers)!;
    expect(moved).toBeDefined();
    expect(moved).not.toBe(cookie);
    expect(await stored(cookie)).toBe('absent');
    await http().get('/me').set('Cookie', moved).expect(200, { authenticated: false, user: null });
    await http()
      .get('/api/get')
      .set('Cookie', moved)
      .expect(200)
      .expect((r) => expect(r.body.data).toEqual({ cart: ['1', '2'], passport: {} }));
    // No longer the user's session: signing the user out everywhere leaves it.
    await store.revokeOwner('1');
    await http()
      .get('/api/get')
      .set('Cookie', moved)
      .expect(200)
      .expect((r) => expect(r.body.data.cart).toEqual(['1', '2']));
  });

  it('a keepSessionInfo logout is a move: for a few seconds a write with the old cookie gets 409 and no cookie (express-session: a new session whose cookie replaces the kept one)', async () => {
    const cookie = await login();
    await http()
      .post('/api/set')
      .set('Cookie', cookie)
      .send({ cart: ['1'] })
      .expect(200);
    const moved = sessionCookie((await http().post('/logout-keep').set('Cookie', cookie).expect(200)).headers)!;
    const late = await http().post('/api/set').set('Cookie', cookie).send({ other: 1 });
    expect(late.status).toBe(409);
    expect(late.headers['retry-after']).toBeDefined();
    expect(sessionCookie(late.headers)).toBeUndefined();
    const read = await http().get('/me').set('Cookie', cookie).expect(200, { authenticated: false, user: null });
    expect(sessionCookie(read.headers)).toBeUndefined();
    await http()
      .get('/api/get')
      .set('Cookie', moved)
      .expect(200)
      .expect((r) => expect(r.body.data).toEqual({ cart: ['1'], passport: {} }));
  });

  it('request.test.js "#logout encountering an error saving existing session": an error answer, never a 2xx; still signed in; no lock left', async () => {
    const cookie = await login();
    store.failing = true;
    try {
      const res = await http().post('/logout').set('Cookie', cookie);
      expect(res.status).toBe(503);
      expect(sessionCookie(res.headers)).toBeUndefined();
    } finally {
      store.failing = false;
    }
    // Unlocked: a write goes through at once; the login stands (the logout was not saved, and said so).
    await http().post('/api/set').set('Cookie', cookie).send({ after: 1 }).expect(200);
    await http()
      .get('/me')
      .set('Cookie', cookie)
      .expect(200, { authenticated: true, user: { id: 1, username: 'john' } });
  });

  it('authenticate.success.test.js "success with return to previous location": redirected to returnTo, which is moved out of the session', async () => {
    const cookie = sessionCookie((await http().post('/api/set').send({ returnTo: '/wanted' }).expect(200)).headers)!;
    const res = await http().post('/login-return').set('Cookie', cookie).send(JOHN).expect(302);
    expect(res.headers.location).toBe('/wanted');
    const moved = sessionCookie(res.headers)!;
    await http()
      .get('/api/get')
      .set('Cookie', moved)
      .expect(200)
      .expect((r) => expect(r.body.data).toEqual({ passport: { user: 1 } }));
    // "success with return to default location"
    const plain = await http().post('/login-return').send(JOHN).expect(302);
    expect(plain.headers.location).toBe('/default');
  });

  it('authenticate.success.message.test.js "success with message set by route that is added to messages"', async () => {
    const cookie = sessionCookie(
      (
        await http()
          .post('/api/set')
          .send({ messages: ['I exist!'] })
          .expect(200)
      ).headers,
    )!;
    const res = await http().post('/login-message').set('Cookie', cookie).send(JOHN).expect(302);
    await http()
      .get('/api/get')
      .set('Cookie', sessionCookie(res.headers)!)
      .expect(200)
      .expect((r) => expect(r.body.data).toEqual({ messages: ['I exist!', 'Login complete'], passport: { user: 1 } }));
  });

  it('authenticate.fail.message.test.js "fail with message set by route that is added to messages"', async () => {
    const cookie = sessionCookie(
      (
        await http()
          .post('/api/set')
          .send({ messages: ['I exist!'] })
          .expect(200)
      ).headers,
    )!;
    const res = await http().post('/login-fail').set('Cookie', cookie).send({ username: 'john', password: 'bad' }).expect(302);
    expect(res.headers.location).toBe('/login-page');
    await http()
      .get('/api/get')
      .set('Cookie', cookie)
      .expect(200, { id: idOf(cookie), data: { messages: ['I exist!', 'Wrong credentials'] } });
  });

  it('strategies/session.test.js "a user that no longer exists" (deserializeUser answers null): signed out, not a 500; saved by a route that writes', async () => {
    const cookie = await login(undefined, { username: 'maria', password: 'pw' });
    gone.add(2);
    try {
      await http().get('/me').set('Cookie', cookie).expect(200, { authenticated: false, user: null });
      const res = await http().post('/api/set').set('Cookie', cookie).send({ a: 1 }).expect(200);
      expect(res.body.user).toBeNull();
    } finally {
      gone.delete(2);
    }
    await http()
      .get('/api/get')
      .set('Cookie', cookie)
      .expect(200, { id: idOf(cookie), data: { passport: {}, a: 1 } });
  });
});

describe('@nestjs/passport AuthGuard.logIn() with the module options', () => {
  it('PassportModule.register({ session: true, keepSessionInfo: true }): the anonymous data survive the login', async () => {
    const { app } = await createApp({ session: true, keepSessionInfo: true });
    try {
      const http = () => request(app.getHttpServer());
      const cookie = sessionCookie(
        (
          await http()
            .post('/api/set')
            .send({ cart: ['x'] })
            .expect(200)
        ).headers,
      )!;
      const res = await http().post('/login').set('Cookie', cookie).send(JOHN).expect(200);
      expect(res.body.data).toEqual({ cart: ['x'], passport: { user: 1 } });
      expect(sessionCookie(res.headers)).not.toBe(cookie);
    } finally {
      await app.close();
    }
  });

  it('keepSessionInfo with data keys named like members of req.session (stored through set(), e.g. @Session()): the login carries them over', async () => {
    const { app } = await createApp({ session: true, keepSessionInfo: true });
    try {
      const http = () => request(app.getHttpServer());
      const cookie = sessionCookie(
        (
          await http()
            .post('/api/set-by-key')
            .send({ touch: 'a', get: { deep: 1 }, cart: ['x'] })
            .expect(200)
        ).headers,
      )!;
      // passport's merge reads each data key of the replaced req.session and assigns it to the new one.
      const res = await http().post('/login').set('Cookie', cookie).send(JOHN).expect(200);
      const moved = sessionCookie(res.headers)!;
      await http()
        .get('/api/get-by-key?keys=touch,get,cart')
        .set('Cookie', moved)
        .expect(200, { touch: 'a', get: { deep: 1 }, cart: ['x'] });
    } finally {
      await app.close();
    }
  });

  it('PassportModule.register({ session: false }): logIn() sets the user and writes no session', async () => {
    const { app } = await createApp({ session: false });
    try {
      const res = await request(app.getHttpServer()).post('/login').send(JOHN).expect(200);
      expect(res.body).toEqual({ user: { id: 1, username: 'john' }, data: {} });
      expect(sessionCookie(res.headers)).toBeUndefined();
    } finally {
      await app.close();
    }
  });
});

/**
 * strategies/session.pause.test.js. In a Nest app the body parser runs after the app's middleware, and
 * passport's pause() re-emits the buffered body before the parser listens: the body is lost with
 * express-session as with the mount. Compared with express-session itself (same Nest app shape).
 */
describe('passport.session({ pauseStream }) with an asynchronous deserializeUser: as with express-session', () => {
  @Controller()
  @SessionState(SessionStateBehavior.Required)
  class EchoCtl {
    @Post('login')
    @HttpCode(200)
    async login(@Req() req: Request) {
      await run((cb) => req.logIn({ id: 1, username: 'john' }, cb));
      return 'ok';
    }
    @Post('echo')
    @HttpCode(200)
    echo(@Req() req: Request) {
      return { body: (req.body as { big?: string } | undefined)?.big?.length ?? null, user: req.user ?? null };
    }
  }

  async function echoApp(kind: 'mount' | 'express-session', pauseStream: boolean) {
    @Module({
      imports: kind === 'mount' ? [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), cookie: { name: 'sid' } })] : [],
      controllers: [EchoCtl],
    })
    class EchoModule {}
    const moduleRef = await Test.createTestingModule({ imports: [EchoModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    if (kind === 'mount') await mountSessionState(app);
    else app.use(expressSession({ name: 'sid', secret: 'upstream-cases', resave: false, saveUninitialized: false }));
    const own = new Passport();
    own.serializeUser((user: Express.User, done) => done(null, (user as { id: number }).id));
    own.deserializeUser((id: number, done) => setImmediate(() => done(null, { id, username: 'john' })));
    app.use(own.initialize());
    app.use(own.session({ pauseStream }));
    await app.init();
    try {
      const http = () => request(app.getHttpServer());
      const cookie = sessionCookie((await http().post('/login').expect(200)).headers)!;
      const res = await http()
        .post('/echo')
        .set('Cookie', cookie)
        .send({ big: 'x'.repeat(50_000) });
      return { status: res.status, body: res.body as unknown };
    } finally {
      await app.close();
    }
  }

  it.each([false, true])('pauseStream %s: the same answer as express-session (the route runs, signed in)', async (pauseStream) => {
    const ours = await echoApp('mount', pauseStream);
    const peer = await echoApp('express-session', pauseStream);
    expect(ours).toEqual(peer);
    expect(ours).toEqual({ status: 200, body: { body: pauseStream ? null : 50_000, user: { id: 1, username: 'john' } } });
  });
});

/**
 * request.test.js "#login establishing a session and keeping previous session data" with a persistent
 * anonymous session (a cart kept for 30 days: `req.session.cookie.maxAge`). passport's merge copies every
 * enumerable key of the old session; express-session's `cookie` is one, so the login keeps the cookie's
 * lifetime. The mount's cookie is not data: the login's new cookie is a browser-session cookie.
 */
describe("keepSessionInfo and the anonymous session's cookie.maxAge: compared with express-session", () => {
  const THIRTY_DAYS = 30 * 24 * 3600 * 1000;

  @Controller()
  @SessionState(SessionStateBehavior.Required)
  class CartCtl {
    @Post('cart')
    @HttpCode(200)
    cart(@Req() req: Request) {
      sessionOf(req).cart = ['sku'];
      sessionOf(req).cookie.maxAge = THIRTY_DAYS;
      return 'ok';
    }
    @Post('login')
    @HttpCode(200)
    async login(@Req() req: Request) {
      await run((cb) => req.logIn({ id: 1, username: 'john' }, { session: true, keepSessionInfo: true }, cb));
      return { cart: sessionOf(req).cart ?? null, maxAge: sessionOf(req).cookie.maxAge ?? null };
    }
  }

  async function loginAfterCart(kind: 'mount' | 'express-session') {
    @Module({
      // The mount's session must outlive the cookie: timeout 30 days (in minutes).
      imports:
        kind === 'mount'
          ? [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), cookie: { name: 'sid' }, timeout: 30 * 24 * 60 })]
          : [],
      controllers: [CartCtl],
    })
    class CartModule {}
    const moduleRef = await Test.createTestingModule({ imports: [CartModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    if (kind === 'mount') await mountSessionState(app);
    else app.use(expressSession({ name: 'sid', secret: 'upstream-cases', resave: false, saveUninitialized: false }));
    const own = new Passport();
    own.serializeUser((user: Express.User, done) => done(null, (user as { id: number }).id));
    app.use(own.initialize());
    await app.init();
    try {
      const http = () => request(app.getHttpServer());
      const cart = sessionCookie((await http().post('/cart').expect(200)).headers)!;
      const res = await http().post('/login').set('Cookie', cart).expect(200);
      const setCookie = String(res.headers['set-cookie']);
      const body = res.body as { cart: unknown; maxAge: number | null };
      // express-session's maxAge is the time left: within a minute of 30 days.
      return {
        cart: body.cart,
        maxAge30Days: body.maxAge !== null && body.maxAge > THIRTY_DAYS - 60_000,
        persistent: /; (Max-Age|Expires)=/i.test(setCookie),
      };
    } finally {
      await app.close();
    }
  }

  it('express-session keeps the persistent cookie over a keepSessionInfo login', async () => {
    expect(await loginAfterCart('express-session')).toEqual({ cart: ['sku'], maxAge30Days: true, persistent: true });
  });

  // A documented difference (docs/PASSPORT.md, "What differs"): the data are kept, the cookie's lifetime is not.
  it('the mount keeps the data, not the persistent cookie: the new session follows the module cookie.maxAge', async () => {
    expect(await loginAfterCart('mount')).toEqual({ cart: ['sku'], maxAge30Days: false, persistent: false });
  });
});

/**
 * authenticate.success.test.js "success with return to previous location" as apps get there: the returnTo
 * is stored by connect-ensure-login's `ensureLoggedIn()` (jaredhanson's companion to passport), a
 * middleware that sets `req.session.returnTo` and redirects to the login page itself. With express-session
 * the redirect saves it. Under the mount the middleware's change is dropped (its request reaches no
 * route that writes; a warning in the log): the login then lands on the default page.
 */
describe('a returnTo stored by an ensureLoggedIn()-style middleware, then successReturnToOrRedirect', () => {
  const ensureLoggedIn = (app: INestApplication) =>
    app.use('/private', (req: Request, res: import('express').Response, next: () => void) => {
      if (req.isAuthenticated()) return next();
      (req.session as unknown as Record<string, unknown>).returnTo = req.originalUrl;
      res.redirect('/login-page');
    });

  it('express-session: the login redirects back to the page first asked for', async () => {
    @Module({})
    class Empty {}
    const moduleRef = await Test.createTestingModule({ imports: [Empty] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    app.use(expressSession({ name: 'sid', secret: 'upstream-cases', resave: false, saveUninitialized: false }));
    const own = new Passport();
    own.use(new Strategy((_username, _password, done) => done(null, { id: 1, username: 'john' })));
    own.serializeUser((user: Express.User, done) => done(null, (user as { id: number }).id));
    own.deserializeUser((id: number, done) => done(null, { id, username: 'john' }));
    app.use(own.initialize());
    app.use(own.session());
    ensureLoggedIn(app);
    app.use(json());
    app.use('/login-return', own.authenticate('local', { successReturnToOrRedirect: '/default', keepSessionInfo: true }));
    await app.init();
    try {
      const http = () => request(app.getHttpServer());
      const bounced = await http().get('/private/page').expect(302);
      const cookie = sessionCookie(bounced.headers)!;
      const res = await http().post('/login-return').set('Cookie', cookie).send(JOHN).expect(302);
      expect(res.headers.location).toBe('/private/page');
    } finally {
      await app.close();
    }
  });

  // A documented difference (docs/PASSPORT.md, "What differs"): a middleware that answers by itself saves nothing.
  it('the mount: the returnTo is not saved, the login lands on its default page', async () => {
    const { app } = await createApp({ session: true }, ensureLoggedIn);
    try {
      const http = () => request(app.getHttpServer());
      const anonymous = sessionCookie((await http().post('/api/set').send({ visited: true }).expect(200)).headers)!;
      const bounced = await http().get('/private/page').set('Cookie', anonymous).expect(302);
      expect(bounced.headers.location).toBe('/login-page');
      const res = await http().post('/login-return').set('Cookie', anonymous).send(JOHN).expect(302);
      expect(res.headers.location).toBe('/default');
    } finally {
      await app.close();
    }
  });

  it("the mount, with PASSPORT.md's recipe (a Required handler that stores returnTo and redirects): back to the page first asked for", async () => {
    const { app } = await createApp({ session: true });
    try {
      const http = () => request(app.getHttpServer());
      const anonymous = sessionCookie((await http().post('/api/set').send({ visited: true }).expect(200)).headers)!;
      const bounced = await http().get('/members/page').set('Cookie', anonymous).expect(302);
      expect(bounced.headers.location).toBe('/login-page');
      const res = await http().post('/login-return').set('Cookie', anonymous).send(JOHN).expect(302);
      expect(res.headers.location).toBe('/members/page');
      await http().get('/members/page').set('Cookie', sessionCookie(res.headers)!).expect(200, { page: 'page' });
    } finally {
      await app.close();
    }
  });
});
