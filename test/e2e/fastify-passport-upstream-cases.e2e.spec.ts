/**
 * Cases of @fastify/passport's own test suite (fastify/fastify-passport, test/*.test.ts) whose
 * behaviour depends on the session, run against a Nest app on Fastify with `mountSessionState(app)` in
 * place of @fastify/secure-session / @fastify/session. Written from what the upstream tests assert.
 */
import {
  Controller,
  Get,
  HttpCode,
  Inject,
  Injectable,
  Module,
  Post,
  Req,
  SetMetadata,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import fastifyPassport from '@fastify/passport';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Strategy as LocalStrategy } from 'passport-local';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
  type RequestSession,
} from '../../src/index.js';
import { sessionCookie } from '../support/test-app.js';

type Authenticator = InstanceType<typeof fastifyPassport.Authenticator>;
type AuthenticatorOptions = ConstructorParameters<typeof fastifyPassport.Authenticator>[0];
type AuthenticateOptions = Parameters<Authenticator['authenticate']>[1];

const PASSPORT = Symbol('passport');
const OPTIONS = Symbol('options');
const Authenticate = (options: AuthenticateOptions) => SetMetadata(OPTIONS, options);
const idOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1);
const sessionOf = (request: FastifyRequest) => (request as unknown as { session: RequestSession }).session;

/** Users; `zero` and `empty` serialize to falsy ids (falsy-serialized-user.test.ts). */
const USERS: { id: number | string; username: string; password: string }[] = [
  { id: 1, username: 'john', password: 'pw' },
  { id: 2, username: 'maria', password: 'pw' },
  { id: 0, username: 'zero', password: 'pw' },
];

function authenticator(options: AuthenticatorOptions = {}): Authenticator {
  const passport = new fastifyPassport.Authenticator(options);
  passport.use(
    'local',
    new LocalStrategy((username, password, done) => {
      const user = USERS.find((u) => u.username === username && u.password === password);
      done(null, user ? { id: user.id, username: user.username } : false);
    }),
  );
  passport.registerUserSerializer(async (user: { id: number | string }) => user.id);
  passport.registerUserDeserializer(async (id: number | string) => {
    const user = USERS.find((u) => u.id === id);
    return user ? { id: user.id, username: user.username } : null;
  });
  return passport;
}

/** Runs @fastify/passport's authenticate('local', options) in a guard; passport's own answers end the request. */
@Injectable()
class LocalGuard implements CanActivate {
  constructor(
    @Inject(PASSPORT) private readonly passport: Authenticator,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    const options = this.reflector.get<AuthenticateOptions>(OPTIONS, context.getHandler()) ?? {};
    await this.passport.authenticate('local', options).call(reply.server, request, reply);
    if (reply.statusCode !== 200 || reply.hasHeader('location')) return new Promise<boolean>(() => {});
    return true;
  }
}

@Controller()
@SessionState(SessionStateBehavior.Required)
class Ctl {
  @UseGuards(LocalGuard)
  @Authenticate({})
  @Post('login')
  @HttpCode(200)
  login(@Req() request: FastifyRequest) {
    return { user: request.user, sessionId: sessionOf(request).sessionId };
  }

  @UseGuards(LocalGuard)
  @Authenticate({ keepSessionInfo: true })
  @Post('login-keep')
  @HttpCode(200)
  loginKeep(@Req() request: FastifyRequest) {
    return { user: request.user };
  }

  /** authenticate({ session: false }): the user for this request only. */
  @UseGuards(LocalGuard)
  @Authenticate({ session: false })
  @Post('login-no-session')
  @HttpCode(200)
  loginNoSession(@Req() request: FastifyRequest) {
    return { user: request.user, authenticated: request.isAuthenticated() };
  }

  /** passport.test.ts: "should redirect to the returnTo set in the session upon login". */
  @UseGuards(LocalGuard)
  @Authenticate({ successReturnToOrRedirect: '/default', keepSessionInfo: true })
  @Post('login-return')
  loginReturn() {
    return 'not reached';
  }

  /** passport.test.ts: "should append multiple messages to session when messages already exist". */
  @UseGuards(LocalGuard)
  @Authenticate({ successMessage: 'Welcome', successRedirect: '/me', keepSessionInfo: true })
  @Post('login-message')
  loginMessage() {
    return 'not reached';
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Req() request: FastifyRequest) {
    await request.logOut();
    return { ok: true };
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('me')
  me(@Req() request: FastifyRequest) {
    return { authenticated: request.isAuthenticated(), user: request.user ?? null };
  }

  @Post('api/set')
  @HttpCode(200)
  set(@Req() request: FastifyRequest) {
    for (const [key, value] of Object.entries(request.body as object)) sessionOf(request).set(key, value);
    return { sessionId: sessionOf(request).sessionId };
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('api/get')
  get(@Req() request: FastifyRequest) {
    const session = sessionOf(request);
    return { sessionId: session.sessionId, data: Object.fromEntries(Object.keys(session).map((key) => [key, session.get(key)])) };
  }
}

async function createApp(options: AuthenticatorOptions = {}, passport = authenticator(options)) {
  const store = new InMemorySessionStateStore();
  @Module({
    imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } })],
    controllers: [Ctl],
    providers: [{ provide: PASSPORT, useValue: passport }, LocalGuard],
  })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await mountSessionState(app);
  await app.register(passport.initialize());
  await app.register(passport.secureSession());
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return { app, store };
}

/** A browser: keeps the last session cookie it was given (TestBrowserSession of the upstream helpers). */
function browser(app: NestFastifyApplication) {
  let cookie: string | undefined;
  const keep = (res: request.Response) => {
    const next = sessionCookie(res.headers);
    if (next !== undefined) cookie = next;
    return res;
  };
  const http = () => request(app.getHttpServer());
  return {
    get cookie() {
      return cookie;
    },
    get: async (url: string) => keep(await (cookie ? http().get(url).set('Cookie', cookie) : http().get(url))),
    post: async (url: string, body: object = {}) => keep(await (cookie ? http().post(url).set('Cookie', cookie) : http().post(url)).send(body)),
  };
}

const JOHN = { username: 'john', password: 'pw' };

describe('@fastify/passport (default options) through the mount: upstream cases', () => {
  let app: NestFastifyApplication;
  let store: InMemorySessionStateStore;
  beforeAll(async () => ({ app, store } = await createApp()));
  afterAll(() => app.close());

  it('csrf-fixation.test.ts "should regenerate csrf token on login": a value stored before login is gone after it, under a new id', async () => {
    const b = browser(app);
    await b.post('/api/set', { _csrf: 'secret-before-login' });
    const before = b.cookie!;
    await b.post('/login', JOHN).then((r) => expect(r.status).toBe(200));
    expect(b.cookie).not.toBe(before);
    expect((await store.getItem(idOf(before))).kind).toBe('absent');
    expect((await b.get('/api/get')).body.data).toEqual({ passport: 1 });
  });

  it('secure-session-manager.test.ts keepSessionInfo: true: every key of the session survives the login', async () => {
    const b = browser(app);
    await b.post('/api/set', { cart: ['a'], other: 2 });
    await b.post('/login-keep', JOHN).then((r) => expect(r.status).toBe(200));
    expect((await b.get('/api/get')).body.data).toEqual({ cart: ['a'], other: 2, passport: 1 });
  });

  it('passport.test.ts "should redirect to the returnTo set in the session upon login": redirected there, returnTo removed', async () => {
    const b = browser(app);
    await b.post('/api/set', { returnTo: '/wanted' });
    const res = await b.post('/login-return', JOHN);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/wanted');
    expect((await b.get('/api/get')).body.data).toEqual({ passport: 1 });
    // Without a returnTo: the default.
    const fresh = browser(app);
    const plain = await fresh.post('/login-return', JOHN);
    expect(plain.headers.location).toBe('/default');
  });

  it('passport.test.ts "should append multiple messages to session when messages already exist"', async () => {
    const b = browser(app);
    await b.post('/api/set', { messages: ['I exist!'] });
    const res = await b.post('/login-message', JOHN);
    expect(res.status).toBe(302);
    expect((await b.get('/api/get')).body.data).toEqual({ messages: ['I exist!', 'Welcome'], passport: 1 });
  });

  it('falsy-serialized-user.test.ts: a user serialized to 0 round trips; the pre-login session is cleared', async () => {
    const b = browser(app);
    await b.post('/api/set', { before: 'login' });
    await b.post('/login', { username: 'zero', password: 'pw' }).then((r) => expect(r.status).toBe(200));
    expect((await b.get('/me')).body).toEqual({ authenticated: true, user: { id: 0, username: 'zero' } });
    expect((await b.get('/api/get')).body.data).toEqual({ passport: 0 });
    await b.post('/logout').then((r) => expect(r.status).toBe(200));
    expect((await b.get('/me')).body).toEqual({ authenticated: false, user: null });
  });

  it('authenticate({ session: false }): signed in for the request; the session neither regenerated nor written', async () => {
    const b = browser(app);
    await b.post('/api/set', { cart: ['a'] });
    const cookie = b.cookie!;
    const res = await b.post('/login-no-session', JOHN);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ user: { id: 1, username: 'john' }, authenticated: true });
    expect(sessionCookie(res.headers)).toBeUndefined();
    expect((await b.get('/api/get')).body).toEqual({ sessionId: idOf(cookie), data: { cart: ['a'] } });
    expect((await b.get('/me')).body.authenticated).toBe(false);
  });

  it('logOut() of an anonymous session with data (regenerate()): the data gone, nothing stored in its place', async () => {
    const b = browser(app);
    await b.post('/api/set', { cart: ['a'] });
    const cookie = b.cookie!;
    const res = await b.post('/logout');
    expect(res.status).toBe(200);
    expect(sessionCookie(res.headers)).toBeUndefined();
    expect((await store.getItem(idOf(cookie))).kind).toBe('absent');
    expect((await b.get('/api/get')).body.data).toEqual({});
  });

  it('session-isolation.test.ts: logging in or out one browser leaves the others as they were', async () => {
    const [a, b, c] = [browser(app), browser(app), browser(app)];
    await a.post('/login', JOHN);
    expect((await b.get('/me')).body.authenticated).toBe(false);
    await b.post('/login', { username: 'maria', password: 'pw' });
    await c.post('/login', JOHN);
    await a.post('/logout');
    expect((await a.get('/me')).body.authenticated).toBe(false);
    expect((await b.get('/me')).body.user).toEqual({ id: 2, username: 'maria' });
    expect((await c.get('/me')).body.user).toEqual({ id: 1, username: 'john' });
  });
});

describe('@fastify/passport clearSessionIgnoreFields through the mount', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => ({ app } = await createApp({ clearSessionIgnoreFields: ['keep'] })));
  afterAll(() => app.close());

  it('the listed fields survive the login, the rest is dropped', async () => {
    const b = browser(app);
    await b.post('/api/set', { keep: 'me', drop: 'me' });
    const before = b.cookie;
    await b.post('/login', JOHN).then((r) => expect(r.status).toBe(200));
    expect(b.cookie).not.toBe(before);
    expect((await b.get('/api/get')).body.data).toEqual({ keep: 'me', passport: 1 });
  });
});

/**
 * clearSessionOnLogin: false. @fastify/passport's SecureSessionManager then copies the session over the
 * regeneration with `request.session.data()` (@fastify/secure-session's API). The mount's session has no
 * `data()`: the copy is empty, so the login and the logout drop every key, the opposite of what the option
 * is for. (multi-instance.test.ts "simultaneous login should be possible" and "logging out with one
 * instance should not log out the other instance" rest on this copy; two authenticators cannot share one
 * Nest route context, so the single-instance form of the same copy is tested.)
 */
describe('@fastify/passport clearSessionOnLogin: false through the mount', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => ({ app } = await createApp({ clearSessionOnLogin: false })));
  afterAll(() => app.close());

  // Documented (docs/PASSPORT.md, "What differs"): the copy reads @fastify/secure-session's data(), which
  // neither @fastify/session nor this req.session has: nothing is kept, as with @fastify/session.
  it('login keeps nothing of the session (as with @fastify/session: no data() to copy from)', async () => {
    const b = browser(app);
    await b.post('/api/set', { cart: ['a'], otherLogin: 'b-user' });
    await b.post('/login', JOHN).then((r) => expect(r.status).toBe(200));
    expect((await b.get('/api/get')).body.data).toEqual({ passport: 1 });
  });

  it('logout keeps nothing of the session either', async () => {
    const b = browser(app);
    await b.post('/login', JOHN);
    await b.post('/api/set', { otherLogin: 'b-user' });
    await b.post('/logout').then((r) => expect(r.status).toBe(200));
    expect((await b.get('/me')).body.authenticated).toBe(false);
    expect((await b.get('/api/get')).body.data).toEqual({});
  });
});

describe('falsy-serialized-user.test.ts through the mount: a user serialized to 0, "" or false', () => {
  it.each([0, '', false])('%j: round trips untouched; the pre-login session is cleared', async (id) => {
    const passport = new fastifyPassport.Authenticator();
    passport.use('local', new LocalStrategy((_username, _password, done) => done(null, { name: 'test', id })));
    const seen: unknown[] = [];
    passport.registerUserSerializer(async () => id);
    passport.registerUserDeserializer(async (stored: unknown) => {
      seen.push(stored);
      return { name: 'test', id };
    });
    const { app } = await createApp({}, passport);
    try {
      const b = browser(app);
      await b.post('/api/set', { planted: true });
      await b.post('/login', JOHN).then((r) => expect(r.status).toBe(200));
      expect((await b.get('/me')).body).toEqual({ authenticated: true, user: { name: 'test', id } });
      expect(seen).toEqual([id]);
      expect((await b.get('/api/get')).body.data).toEqual({ passport: id });
    } finally {
      await app.close();
    }
  });
});

describe('session-serialization.test.ts: a serializer that throws during logIn (request.test.js "encountering an error when serializing to session")', () => {
  it('an error answer; the anonymous session intact and unlocked; nothing signed in', async () => {
    const passport = new fastifyPassport.Authenticator();
    passport.use('local', new LocalStrategy((username, _password, done) => done(null, { id: username === 'maria' ? 2 : 1, username })));
    passport.registerUserSerializer(async (user: { id: number }) => {
      if (user.id === 2) throw new Error('serializer failed');
      return user.id;
    });
    passport.registerUserDeserializer(async (id: number) => ({ id, username: 'john' }));
    const { app, store } = await createApp({}, passport);
    try {
      const b = browser(app);
      await b.post('/api/set', { cart: ['a'] });
      const cookie = b.cookie!;
      const res = await b.post('/login', { username: 'maria', password: 'pw' });
      expect(res.status).toBe(500);
      expect(sessionCookie(res.headers)).toBeUndefined();
      expect((await store.getItem(idOf(cookie))).kind).toBe('loaded');
      await b.post('/api/set', { more: 1 }).then((r) => expect(r.status).toBe(200));
      expect((await b.get('/api/get')).body).toEqual({ sessionId: idOf(cookie), data: { cart: ['a'], more: 1 } });
      expect((await b.get('/me')).body.authenticated).toBe(false);
    } finally {
      await app.close();
    }
  });
});
