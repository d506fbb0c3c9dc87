import {
  Body,
  Controller,
  Get,
  HttpCode,
  Injectable,
  Post,
  Req,
  Res,
  UseGuards,
  ValidationPipe,
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  type NestInterceptor,
  Logger,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { IsString } from 'class-validator';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import request from 'supertest';
import {
  HttpSessionState,
  InMemorySessionStateStore,
  Session,
  SessionState,
  SessionStateAccessor,
  SessionStateBehavior,
  SessionStateModule,
  SessionStateStoreUnavailableError,
  type SessionStateStoreData,
} from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { ADAPTERS, createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { flat } from '../../src/testing/flat-store-answer.js';

/**
 * What NestJS users bring to a controller besides the session: guards that read it, method
 * decorators that replace the handler, `@Res()` answers, a global ValidationPipe.
 */

/** Sessions seen by the guards of the current request (by the request object). */
const seenByGuards = new WeakMap<object, HttpSessionState[]>();

async function readInGuard(sessions: SessionStateAccessor, context: ExecutionContext): Promise<HttpSessionState> {
  const session = await sessions.get(context);
  const request = context.switchToHttp().getRequest<object>();
  seenByGuards.set(request, [...(seenByGuards.get(request) ?? []), session]);
  return session;
}

@Injectable()
class SignedInGuard implements CanActivate {
  constructor(private readonly sessions: SessionStateAccessor) {}
  async canActivate(context: ExecutionContext): Promise<boolean> {
    return (await readInGuard(this.sessions, context)).has('user');
  }
}

@Injectable()
class AdminGuard implements CanActivate {
  constructor(private readonly sessions: SessionStateAccessor) {}
  async canActivate(context: ExecutionContext): Promise<boolean> {
    return (await readInGuard(this.sessions, context)).get('user') === 'admin';
  }
}

/** One guard asking twice (a helper it calls asks again). */
@Injectable()
class TwiceGuard implements CanActivate {
  constructor(private readonly sessions: SessionStateAccessor) {}
  async canActivate(context: ExecutionContext): Promise<boolean> {
    await readInGuard(this.sessions, context);
    return (await readInGuard(this.sessions, context)).has('user');
  }
}

/** A logging/timing decorator as they are commonly written: it replaces the method and copies no metadata. */
function Timed(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    descriptor.value = function (this: unknown, ...args: unknown[]) {
      return original.apply(this, args);
    };
  };
}

class LoginDto {
  @IsString()
  user!: string;
}

/** An `@Res()` object of either platform (Express's `Response`, Fastify's `FastifyReply`). */
interface AnyResponse {
  raw?: unknown;
  redirect(a: unknown, b?: unknown): void;
  status?(code: number): AnyResponse;
  code?(code: number): AnyResponse;
  send(body: unknown): void;
  json?(body: unknown): void;
}

function redirect(res: AnyResponse, url: string): void {
  if (res.raw) res.redirect(url, 303);
  else res.redirect(303, url);
}

@Controller()
class SurfaceController {
  @Post('login')
  @HttpCode(200)
  login(@Session() s: HttpSessionState, @Body() body: LoginDto) {
    s.regenerateId();
    s.set('user', body.user);
    return { user: body.user };
  }

  @Get('me')
  @SessionState(SessionStateBehavior.ReadOnly)
  me(@Session() s: HttpSessionState) {
    return { user: s.get<string>('user') ?? null, count: s.get<number>('count') ?? 0 };
  }

  @Post('count')
  @HttpCode(200)
  count(@Session() s: HttpSessionState) {
    s.set('count', (s.get<number>('count') ?? 0) + 1);
    return { count: s.get<number>('count') };
  }

  // 4: guards reading the session of a handler that takes none.
  @Get('admin')
  @UseGuards(SignedInGuard, AdminGuard)
  admin() {
    return { admin: true };
  }

  @Get('twice')
  @UseGuards(TwiceGuard)
  twice() {
    return { twice: true };
  }

  @Post('admin-count')
  @HttpCode(200)
  @UseGuards(SignedInGuard, AdminGuard)
  adminCount(@Session() s: HttpSessionState) {
    s.set('count', (s.get<number>('count') ?? 0) + 1);
    return { count: s.get<number>('count') };
  }

  // 7: a method decorator below @Post() that replaces the handler.
  @Post('timed-count')
  @HttpCode(200)
  @Timed()
  timedCount(@Session() s: HttpSessionState) {
    s.set('count', (s.get<number>('count') ?? 0) + 1);
    return { count: s.get<number>('count') };
  }

  @Post('timed-login')
  @HttpCode(200)
  @Timed()
  timedLogin(@Session() s: HttpSessionState, @Body() body: LoginDto) {
    s.regenerateId();
    s.set('user', body.user);
    return { user: body.user };
  }

  // 12: an MVC login answering itself.
  @Post('mvc/login')
  mvcLogin(@Session() s: HttpSessionState, @Body() body: LoginDto, @Res() res: AnyResponse) {
    s.regenerateId();
    s.set('user', body.user);
    redirect(res, '/me');
  }

  @Post('mvc/login-send')
  mvcLoginSend(@Session() s: HttpSessionState, @Body() body: LoginDto, @Res() res: AnyResponse) {
    s.regenerateId();
    s.set('user', body.user);
    if (res.raw) res.code!(200).send({ user: body.user });
    else res.status!(200).json!({ user: body.user });
  }

  @Post('mvc/login-passthrough')
  mvcLoginPassthrough(@Session() s: HttpSessionState, @Body() body: LoginDto, @Res({ passthrough: true }) res: AnyResponse) {
    s.regenerateId();
    s.set('user', body.user);
    redirect(res, '/me');
  }

  @Post('mvc/login-passthrough-return')
  @HttpCode(200)
  mvcLoginPassthroughReturn(@Session() s: HttpSessionState, @Body() body: LoginDto, @Res({ passthrough: true }) _res: AnyResponse) {
    s.regenerateId();
    s.set('user', body.user);
    return { user: body.user };
  }

  /** Sends its answer, then goes on working (awaiting something) before it returns. */
  @Post('mvc/login-then-work')
  async mvcLoginThenWork(@Session() s: HttpSessionState, @Body() body: LoginDto, @Res() res: AnyResponse) {
    s.regenerateId();
    s.set('user', body.user);
    redirect(res, '/me');
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Sends its answer and waits until it has gone out (as `await pipeline(file, res)` does). */
  @Post('mvc/login-await-finish')
  async mvcLoginAwaitFinish(@Session() s: HttpSessionState, @Body() body: LoginDto, @Res() res: AnyResponse) {
    s.regenerateId();
    s.set('user', body.user);
    const raw = (res.raw ?? res) as NodeJS.EventEmitter;
    const finished = once(raw, 'finish');
    if (res.raw) res.code!(200).send({ user: body.user });
    else res.status!(200).json!({ user: body.user });
    await finished;
  }

  /** Streams its answer (Express: a stream piped into the response; Fastify: a stream payload). */
  @Post('mvc/login-stream')
  mvcLoginStream(@Session() s: HttpSessionState, @Body() body: LoginDto, @Res() res: AnyResponse & NodeJS.WritableStream) {
    s.regenerateId();
    s.set('user', body.user);
    const stream = Readable.from(['streamed ', body.user]);
    if (res.raw) res.code!(200).send(stream);
    else stream.pipe(res.status!(200) as unknown as NodeJS.WritableStream);
  }

  @Post('mvc/logout')
  mvcLogout(@Session() s: HttpSessionState, @Res() res: AnyResponse) {
    s.abandon();
    redirect(res, '/me');
  }

  /** Sends its answer, then throws: the answer stands (it was sent), and nothing answers twice. */
  @Post('mvc/login-then-throw')
  mvcLoginThenThrow(@Session() s: HttpSessionState, @Body() body: LoginDto, @Res() res: AnyResponse) {
    s.regenerateId();
    s.set('user', body.user);
    redirect(res, '/me');
    throw new Error('after the answer');
  }

  /** Answers through the request's response (Express's `req.res`), not `@Res()`: the module cannot hold that answer. */
  @Post('req-res/login')
  reqResLogin(@Session() s: HttpSessionState, @Req() req: { res: { status(code: number): { json(body: unknown): void } } }) {
    s.regenerateId();
    s.set('user', 'ann');
    req.res.status(200).json({ sent: true });
  }

  @Post('mvc/count')
  mvcCount(@Session() s: HttpSessionState, @Res() res: AnyResponse) {
    s.set('count', (s.get<number>('count') ?? 0) + 1);
    if (res.raw) res.code!(200).send({ count: s.get<number>('count') });
    else res.status!(200).json!({ count: s.get<number>('count') });
  }
}

@Injectable()
class AppInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle();
  }
}

/** An in-memory store whose saves can be made to fail, as an unreachable store's would. */
class FailingSaveStore extends InMemorySessionStateStore {
  failSaves = false;
  override async setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    if (this.failSaves) throw new SessionStateStoreUnavailableError('the backend did not answer');
    return super.setAndReleaseItemExclusive(id, item, lockId, newItem);
  }
}

type Shape = 'bare' | 'with a global interceptor';
const SHAPES: Shape[] = ['bare', 'with a global interceptor'];

async function start(adapter: AdapterName, shape: Shape, configure?: (app: INestApplication) => void) {
  const store = new FailingSaveStore();
  const app = await createTestApp(
    adapter,
    {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [SurfaceController],
      providers: [SignedInGuard, AdminGuard, TwiceGuard, ...(shape === 'bare' ? [] : [{ provide: APP_INTERCEPTOR, useClass: AppInterceptor }])],
    },
    configure,
  );
  return { app, http: app.getHttpServer(), store, activeLeases: () => app.get(SessionStateLifecycle).activeLeases };
}

const apps: INestApplication[] = [];
async function started(adapter: AdapterName, shape: Shape, configure?: (app: INestApplication) => void) {
  const t = await start(adapter, shape, configure);
  apps.push(t.app);
  return t;
}
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function loggedIn(http: Parameters<typeof request>[0], user: string): Promise<string> {
  return sessionCookie((await request(http).post('/login').send({ user }).expect(200)).headers)!;
}

describe.each(ADAPTERS)('guards that read the session through SessionStateAccessor, over %s', (adapter) => {
  it('two guards on a handler without @Session() see one session and let a signed-in admin through', async () => {
    const t = await started(adapter, 'bare');
    const admin = await loggedIn(t.http, 'admin');
    await request(t.http).get('/admin').set('Cookie', admin).expect(200, { admin: true });
    await request(t.http)
      .get('/admin')
      .set('Cookie', await loggedIn(t.http, 'bob'))
      .expect(403);
    await request(t.http).get('/admin').expect(403);
    expect(t.activeLeases()).toBe(0);
  });

  it('a guard asking twice gets the same session both times', async () => {
    const t = await started(adapter, 'bare');
    const cookie = await loggedIn(t.http, 'ann');
    const guards = vi.spyOn(seenByGuards, 'set');
    await request(t.http).get('/twice').set('Cookie', cookie).expect(200, { twice: true });
    const [first, second] = guards.mock.calls.at(-1)![1];
    expect(second).toBe(first);
    expect(t.activeLeases()).toBe(0);
  });

  it.each(SHAPES)('two guards on a handler that takes @Session() share its session and lock (%s)', async (shape) => {
    const t = await started(adapter, shape);
    const admin = await loggedIn(t.http, 'admin');
    const guards = vi.spyOn(seenByGuards, 'set');
    await request(t.http).post('/admin-count').set('Cookie', admin).expect(200, { count: 1 });
    await request(t.http).post('/admin-count').set('Cookie', admin).expect(200, { count: 2 });
    const [first, second] = guards.mock.calls.at(-1)![1];
    expect(second).toBe(first);
    expect(t.activeLeases()).toBe(0);
  });
});

describe.each(ADAPTERS)('a method decorator below @Post() that replaces the handler without its metadata, over %s', (adapter) => {
  it.each(SHAPES)('the route still runs its session: read-write, locked, saved (%s)', async (shape) => {
    const t = await started(adapter, shape);
    const first = await request(t.http).post('/timed-count').expect(200, { count: 1 });
    const cookie = sessionCookie(first.headers)!;
    expect(cookie).toBeDefined();
    // Concurrent requests of one session are serialised: none is lost.
    await Promise.all(Array.from({ length: 5 }, () => request(t.http).post('/timed-count').set('Cookie', cookie).expect(200)));
    await request(t.http).get('/me').set('Cookie', cookie).expect(200, { user: null, count: 6 });
    expect(t.activeLeases()).toBe(0);
  });

  it.each(SHAPES)('regenerateId() in such a route moves the session under a new cookie (%s)', async (shape) => {
    const t = await started(adapter, shape);
    const cookie = sessionCookie((await request(t.http).post('/count').expect(200)).headers)!;
    const answer = await request(t.http).post('/timed-login').set('Cookie', cookie).send({ user: 'ann' }).expect(200);
    const moved = sessionCookie(answer.headers)!;
    expect(moved).toBeDefined();
    expect(moved).not.toBe(cookie);
    await request(t.http).get('/me').set('Cookie', moved).expect(200, { user: 'ann', count: 1 });
  });
});

describe.each(ADAPTERS)('a login that answers itself through @Res(), over %s', (adapter) => {
  const routes = [
    ['res.redirect()', '/mvc/login', 303],
    ['res.send()/res.json()', '/mvc/login-send', 200],
    ['@Res({ passthrough: true }) and res.redirect()', '/mvc/login-passthrough', 303],
    ['@Res({ passthrough: true }) and a returned value', '/mvc/login-passthrough-return', 200],
    ['res.redirect(), then more work before it returns', '/mvc/login-then-work', 303],
    ['res.redirect(), then a throw', '/mvc/login-then-throw', 303],
    ["res.send(), then awaiting the answer's end", '/mvc/login-await-finish', 200],
    ['a streamed answer', '/mvc/login-stream', 200],
  ] as const;

  describe.each(SHAPES)('%s', (shape) => {
    it.each(routes)('%s without a prior cookie: the answer carries the new session, stored before it left', async (_name, route, status) => {
      const t = await started(adapter, shape);
      const answer = await request(t.http).post(route).send({ user: 'ann' }).expect(status);
      if (status === 303) expect(answer.headers.location).toBe('/me');
      const cookie = sessionCookie(answer.headers)!;
      expect(cookie).toBeDefined();
      // Stored before the answer left: readable at once, through the store itself.
      expect(flat(await t.store.getItem(cookie.slice(cookie.indexOf('=') + 1))).item).not.toBeNull();
      await request(t.http).get('/me').set('Cookie', cookie).expect(200, { user: 'ann', count: 0 });
      expect(t.activeLeases()).toBe(0);
    });

    it.each(routes)('%s with a prior cookie: a new id (fixation), the old one gone', async (_name, route, status) => {
      const t = await started(adapter, shape);
      const before = sessionCookie((await request(t.http).post('/count').expect(200)).headers)!;
      const answer = await request(t.http).post(route).set('Cookie', before).send({ user: 'ann' }).expect(status);
      const after = sessionCookie(answer.headers)!;
      expect(after).toBeDefined();
      expect(after).not.toBe(before);
      await request(t.http).get('/me').set('Cookie', after).expect(200, { user: 'ann', count: 1 });
      await request(t.http).get('/me').set('Cookie', before).expect(200, { user: null, count: 0 });
      expect(t.activeLeases()).toBe(0);
    });
  });

  it.each(SHAPES)('a save that fails turns the redirect into an error, without the cookie (%s)', async (shape) => {
    const t = await started(adapter, shape);
    const before = sessionCookie((await request(t.http).post('/count').expect(200)).headers)!;
    t.store.failSaves = true;
    const answer = await request(t.http).post('/mvc/login').set('Cookie', before).send({ user: 'ann' });
    expect(answer.status).toBe(503);
    expect(sessionCookie(answer.headers)).toBeUndefined();
    t.store.failSaves = false;
    // Nothing left locked; the session is as it was.
    await request(t.http).get('/me').set('Cookie', before).expect(200, { user: null, count: 1 });
    await request(t.http).post('/mvc/count').set('Cookie', before).expect(200, { count: 2 });
    expect(t.activeLeases()).toBe(0);
  });

  it.each(SHAPES)('a logout by redirect clears the cookie on the redirect, the session gone first (%s)', async (shape) => {
    const t = await started(adapter, shape);
    const cookie = await loggedIn(t.http, 'ann');
    const answer = await request(t.http).post('/mvc/logout').set('Cookie', cookie).expect(303);
    expect(sessionCookie(answer.headers)).toBe('sid=');
    expect(flat(await t.store.getItem(cookie.slice(cookie.indexOf('=') + 1))).item).toBeNull();
    await request(t.http).get('/me').set('Cookie', cookie).expect(200, { user: null, count: 0 });
  });

  it.runIf(adapter === 'express')('a hook of the response set before (compression, on-headers) still runs, and stays', async () => {
    const t = await started(adapter, 'bare', (app) =>
      app.use((_req: unknown, res: { end: (...args: unknown[]) => unknown; setHeader(name: string, value: string): void }, next: () => void) => {
        const end = res.end;
        res.end = function (this: unknown, ...args: unknown[]) {
          res.setHeader('x-hooked-end', 'yes');
          return end.apply(this, args);
        };
        next();
      }),
    );
    const answer = await request(t.http).post('/mvc/login').send({ user: 'ann' }).expect(303);
    expect(answer.headers['x-hooked-end']).toBe('yes');
    await request(t.http).get('/me').set('Cookie', sessionCookie(answer.headers)!).expect(200, { user: 'ann', count: 0 });
  });

  it.runIf(adapter === 'express')(
    'an answer sent around @Res() (req.res) cannot carry the new id: kept under the old one, logged with the remedy',
    async () => {
      const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
      const t = await started(adapter, 'bare');
      const before = sessionCookie((await request(t.http).post('/count').expect(200)).headers)!;
      const answer = await request(t.http).post('/req-res/login').set('Cookie', before).expect(200, { sent: true });
      expect(sessionCookie(answer.headers)).toBeUndefined();
      await vi.waitFor(() =>
        expect(error).toHaveBeenCalledWith(expect.stringMatching(/^regenerateId\(\): the response was sent before the session was saved.*@Res\(\)/)),
      );
      expect(JSON.stringify(error.mock.calls)).not.toContain(before.slice(before.indexOf('=') + 1));
      await request(t.http).get('/me').set('Cookie', before).expect(200, { user: 'ann', count: 1 });
    },
  );

  it('an @Res() handler that changes the session serialises with the others of its session', async () => {
    const t = await started(adapter, 'bare');
    const cookie = sessionCookie((await request(t.http).post('/mvc/count').expect(200, { count: 1 })).headers)!;
    await Promise.all(Array.from({ length: 5 }, () => request(t.http).post('/mvc/count').set('Cookie', cookie).expect(200)));
    await request(t.http).get('/me').set('Cookie', cookie).expect(200, { user: null, count: 6 });
  });
});

describe.each(ADAPTERS)('a global ValidationPipe({ validateCustomDecorators: true }), over %s', (adapter) => {
  describe.each(SHAPES)('%s', (shape) => {
    it.each([false, true])('leaves the session untouched (transform: %s) and still validates the body', async (transform) => {
      const t = await started(adapter, shape, (app) => app.useGlobalPipes(new ValidationPipe({ validateCustomDecorators: true, transform })));
      const first = await request(t.http).post('/count').expect(200, { count: 1 });
      const cookie = sessionCookie(first.headers)!;
      await request(t.http).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
      await request(t.http).post('/timed-count').set('Cookie', cookie).expect(200, { count: 3 });
      const moved = sessionCookie((await request(t.http).post('/login').set('Cookie', cookie).send({ user: 'ann' }).expect(200)).headers)!;
      await request(t.http).get('/me').set('Cookie', moved).expect(200, { user: 'ann', count: 3 });
      await request(t.http).post('/login').set('Cookie', moved).send({ user: 42 }).expect(400);
      expect(t.activeLeases()).toBe(0);
    });
  });
});
