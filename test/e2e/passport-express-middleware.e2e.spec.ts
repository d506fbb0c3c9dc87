/**
 * The req.session mount with the real passport packages (Express): passport.authenticate() used as
 * Express middleware (before the route is known), and the lock after refusals, errors, HEAD/OPTIONS.
 */
import {
  Controller,
  Get,
  HttpCode,
  Injectable,
  Module,
  Post,
  Req,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { AuthGuard, PassportModule, PassportSerializer, PassportStrategy } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import express, { json, type Request } from 'express';
import passport from 'passport';
import { Strategy } from 'passport-local';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
  type HttpSessionState,
} from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { sessionCookie } from '../support/test-app.js';

const idOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1);
const USERS = [
  { id: 1, username: 'john', password: 'pw' },
  { id: 66, username: 'boom', password: 'pw' },
  /** Parked in validate() (the session's lock held, before passport's logIn moves the session) until the test opens `validate-slow`. */
  { id: 7, username: 'slow', password: 'pw' },
];
const gates = new Gates();

@Injectable()
class LocalStrategy extends PassportStrategy(Strategy) {
  async validate(username: string, password: string) {
    if (username === 'slow') await gates.pass('validate-slow');
    const user = USERS.find((u) => u.username === username && u.password === password);
    return user ? { id: user.id, username: user.username } : null;
  }
}

@Injectable()
class Serializer extends PassportSerializer {
  serializeUser(user: { id: number }, done: (err: Error | null, id?: number) => void): void {
    if (user.id === 66) return done(new Error('serializer failed'));
    done(null, user.id);
  }
  deserializeUser(id: number, done: (err: Error | null, user?: unknown) => void): void {
    const user = USERS.find((u) => u.id === id);
    done(null, user ? { id: user.id, username: user.username } : false);
  }
}

@Injectable()
class LocalAuthGuard extends AuthGuard('local') {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const result = (await super.canActivate(context)) as boolean;
    await super.logIn(context.switchToHttp().getRequest());
    return result;
  }
}

@Injectable()
class AuthenticatedGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<Request>().isAuthenticated();
  }
}

@Controller()
class Ctl {
  @UseGuards(LocalAuthGuard)
  @SessionState(SessionStateBehavior.Required)
  @Post('login')
  @HttpCode(200)
  login(@Req() req: Request) {
    return { user: req.user };
  }

  @Post('cart')
  @HttpCode(200)
  cart(@Session() session: HttpSessionState) {
    session.set('n', (session.get<number>('n') ?? 0) + 1);
    return { n: session.get('n') };
  }

  /** A Required route behind a guard that refuses anonymous users. */
  @UseGuards(AuthenticatedGuard)
  @SessionState(SessionStateBehavior.Required)
  @Get('private-write')
  privateWrite() {
    return 'ok';
  }

  @SessionState(SessionStateBehavior.Required)
  @Get('flash')
  flash() {
    return { ok: true };
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('me')
  me(@Req() req: Request) {
    return { user: req.user ?? null };
  }

  @Get('ping')
  ping() {
    return 'pong';
  }
}

@Module({ imports: [PassportModule.register({ session: true })], controllers: [Ctl], providers: [LocalStrategy, Serializer] })
class PassportPart {}

/** Wrapped: a layer named jsonParser would make Nest skip its own body parser. */
const jsonBody = json();

async function createApp(
  store = new InMemorySessionStateStore(),
  configure?: (app: INestApplication) => void,
  adapter?: ExpressAdapter,
  prefix?: string,
) {
  @Module({ imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } }), PassportPart] })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = adapter ? moduleRef.createNestApplication(adapter, { logger: false }) : moduleRef.createNestApplication({ logger: false });
  if (prefix) app.setGlobalPrefix(prefix);
  await mountSessionState(app);
  configure?.(app);
  app.use(passport.initialize());
  app.use(passport.session());
  await app.init();
  return { app, store };
}

describe('passport through the mount (Express): middleware, refusals, errors', () => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  beforeAll(async () => {
    ({ app, store } = await createApp(undefined, (a) =>
      // express-session style: passport.authenticate as plain Express middleware (the most common pre-Nest pattern).
      a.use(
        '/mw-login',
        (req: Request, res: express.Response, next: express.NextFunction) => jsonBody(req, res, next),
        passport.authenticate('local', { successRedirect: '/me', failureRedirect: '/ping' }),
        // What passport hands to next(): the error of req.session.save().
        (error: Error, _req: Request, res: express.Response, _next: express.NextFunction) =>
          void res.status(500).json({ name: error.name, message: error.message }),
      ),
    ));
  });
  afterAll(async () => {
    gates.openAll();
    await app.close();
  });
  const http = () => request(app.getHttpServer());
  const lockedState = async (cookie: string) => (await store.getItem(idOf(cookie))).kind;

  it('passport.authenticate as Express middleware: save() reports an error naming what to do, never a 302 for a login that was not saved', async () => {
    const res = await http().post('/mw-login').send({ username: 'john', password: 'pw' });
    expect(res.status).toBe(500);
    expect(res.body.message).toContain('before the route was known');
    expect(res.body.message).toContain('@SessionState(SessionStateBehavior.Required)');
    expect(res.headers.location).toBeUndefined();
    expect(sessionCookie(res.headers)).toBeUndefined(); // nothing stored, so no cookie names it
  });

  it('a guard refusing after the mount locked (403 on a Required route): the lock is released', async () => {
    const cookie = sessionCookie((await http().post('/cart').expect(200)).headers)!;
    await http().get('/private-write').set('Cookie', cookie).expect(403);
    expect(await lockedState(cookie)).toBe('loaded');
    await http().post('/cart').set('Cookie', cookie).expect(200, { n: 2 });
  });

  it("an exception in passport's serializer during logIn: 500, the lock released, the old session intact", async () => {
    const cookie = sessionCookie((await http().post('/cart').expect(200)).headers)!;
    await http().post('/login').set('Cookie', cookie).send({ username: 'boom', password: 'pw' }).expect(500);
    expect(await lockedState(cookie)).toBe('loaded');
    await http().post('/cart').set('Cookie', cookie).expect(200, { n: 2 });
  });

  it('HEAD and OPTIONS on a Required route: answered, the lock released', async () => {
    const cookie = sessionCookie((await http().post('/cart').expect(200)).headers)!;
    await http().head('/flash').set('Cookie', cookie).expect(200);
    expect(await lockedState(cookie)).toBe('loaded');
    await http().options('/flash').set('Cookie', cookie);
    expect(await lockedState(cookie)).toBe('loaded');
    await http().post('/cart').set('Cookie', cookie).expect(200, { n: 2 });
  });

  it('a login with a cookie racing a request of the same session to a route that does not use the session: that route still answers 200', async () => {
    const cookie = sessionCookie((await http().post('/cart').expect(200)).headers)!;
    const login = http()
      .post('/login')
      .set('Cookie', cookie)
      .send({ username: 'slow', password: 'pw' })
      .then((r) => r);
    await gates.arrived('validate-slow'); // the login holds the session's lock; passport's logIn has not moved it yet
    const [ping, me] = ['/ping', '/me'].map((path) =>
      http()
        .get(path)
        .set('Cookie', cookie)
        .then((r) => r),
    );
    // Both wait for the login's lock (the mount reads the session), which moves the session to a new id meanwhile.
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).locks.waiting(idOf(cookie))).toBe(2));
    gates.open('validate-slow');
    expect((await login).status).toBe(200);
    const [pinged, read] = [await ping, await me];
    // The route without the session runs (as with express-session), and sets no cookie over the login's.
    expect({ status: pinged.status, text: pinged.text, cookie: sessionCookie(pinged.headers) }).toEqual({
      status: 200,
      text: 'pong',
      cookie: undefined,
    });
    // A route that reads the session is refused, as without the mount: it would read a session that is gone.
    expect({ status: read.status, message: read.body.message }).toEqual({ status: 409, message: expect.stringContaining('moved or ended') });
  });
});

describe('two Nest apps sharing one Express instance (global prefixes /a and /b), each mounted', () => {
  it("keep their sessions apart: a write in app A is saved in A's store", async () => {
    const server = express();
    const storeA = new InMemorySessionStateStore();
    const storeB = new InMemorySessionStateStore();
    const { app: a } = await createApp(storeA, undefined, new ExpressAdapter(server), 'a');
    const { app: b } = await createApp(storeB, undefined, new ExpressAdapter(server), 'b');
    try {
      const first = await request(server).post('/a/cart').expect(200, { n: 1 });
      const cookie = sessionCookie(first.headers)!;
      expect((await storeA.getItem(idOf(cookie))).kind).toBe('loaded');
      await request(server).post('/a/cart').set('Cookie', cookie).expect(200, { n: 2 });
      await request(server).post('/a/cart').set('Cookie', cookie).expect(200, { n: 3 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
