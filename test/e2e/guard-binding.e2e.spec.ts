import {
  BadRequestException,
  Controller,
  Get,
  HttpCode,
  Injectable,
  Post,
  Query,
  Req,
  Res,
  Sse,
  UseGuards,
  UseInterceptors,
  RequestTimeoutException,
  type CallHandler,
  type INestApplication,
  type ModuleMetadata,
  type NestInterceptor,
} from '@nestjs/common';
import { INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import type { ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import { of, timeout } from 'rxjs';
import request from 'supertest';
import {
  HttpSessionState,
  mountSessionState,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateGuard,
  SessionStateModule,
  type SessionStateModuleOptions,
} from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { SessionStateInterceptor } from '../../src/nest/session-state.interceptor.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { APP_GUARD } from '@nestjs/core';
import { ADAPTERS, createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';

/*
 * The guard binding (`@UseGuards(SessionStateGuard)`): the session is taken by a guard and completed
 * as the answer goes out, without Nest's interceptor pipeline. Same guarantees as the interceptor
 * binding (the lock for the request's length, nothing lost under concurrency, an error's changes
 * discarded), on Express and Fastify, bare and with a global interceptor.
 */

@Controller('g')
@UseGuards(SessionStateGuard)
class GuardedController {
  constructor(private readonly gates: Gates) {}

  @Post('count')
  @HttpCode(200)
  async count(@Session() session: HttpSessionState, @Query('gate') gate?: string) {
    const count = session.get<number>('count') ?? 0;
    if (gate) await this.gates.pass(gate);
    session.set('count', count + 1);
    return { count: count + 1 };
  }

  @Get('count')
  @SessionState(SessionStateBehavior.ReadOnly)
  read(@Session() session: HttpSessionState) {
    return { count: session.get<number>('count') ?? 0 };
  }

  @Post('refused')
  refused(@Session() session: HttpSessionState): never {
    session.set('refused', true);
    throw new BadRequestException('no');
  }

  @Post('broken')
  broken(@Session() session: HttpSessionState): never {
    session.set('broken', true);
    throw new Error('bug');
  }

  @Get('seen')
  @SessionState(SessionStateBehavior.ReadOnly)
  seen(@Session() session: HttpSessionState) {
    return { refused: session.get('refused') ?? null, broken: session.get('broken') ?? null };
  }

  @Post('login')
  @HttpCode(200)
  login(@Session() session: HttpSessionState) {
    session.regenerateId();
    session.set('user', 'ada');
    return { ok: true };
  }

  @Post('logout')
  @HttpCode(200)
  logout(@Session() session: HttpSessionState) {
    session.abandon();
    return { ok: true };
  }

  @Get('free')
  free() {
    return 'free';
  }

  /** Gives up after 50 ms (NestJS's `timeout()` recipe) while the handler is parked on its gate. */
  @Post('slow')
  @HttpCode(200)
  @UseInterceptors({
    intercept: (_context, next: CallHandler) => next.handle().pipe(timeout({ first: 50, with: () => Promise.reject(new RequestTimeoutException()) })),
  } as NestInterceptor)
  async slow(@Session() session: HttpSessionState) {
    await this.gates.pass('slow');
    session.set('slow', true);
    return { ok: true };
  }

  @Get('slow')
  @SessionState(SessionStateBehavior.ReadOnly)
  slowSeen(@Session() session: HttpSessionState) {
    return { slow: session.get('slow') ?? null };
  }

  /**
   * Gives its own response another prototype, as an Express sub-app does (its own `app.response`,
   * made from Express's `response`): the guard does not see the answer go out.
   */
  @Post('rehooked')
  @HttpCode(200)
  rehooked(@Session() session: HttpSessionState, @Req() req: { res: object; app: { response: object } }) {
    const app = { configurable: true, enumerable: true, writable: true, value: req.app };
    Object.setPrototypeOf(req.res, Object.create(Object.getPrototypeOf(req.app.response) as object, { app }));
    session.set('rehooked', true);
    return { ok: true };
  }

  /** Express: what holding this answer did to the response object and to its application's `app.response`. */
  @Post('prototype')
  @HttpCode(200)
  prototypeOf(@Session() session: HttpSessionState, @Req() req: { res: object; app: { response: object } }) {
    session.set('seen', true);
    return { expressPrototype: Object.getPrototypeOf(req.res) === req.app.response, appHooked: Object.hasOwn(req.app.response, 'end') };
  }
}

/** The same route with the default binding (the interceptor), in the same app. */
@Controller('i')
class InterceptedController {
  @Post('count')
  @HttpCode(200)
  count(@Session() session: HttpSessionState) {
    const count = (session.get<number>('count') ?? 0) + 1;
    session.set('count', count);
    return { count };
  }
}

const noopInterceptor: NestInterceptor = { intercept: (_context, next: CallHandler) => next.handle() };

interface GuardApp {
  app: INestApplication;
  counter: StoreCallCounter;
  gates: Gates;
  lifecycle: SessionStateLifecycle;
}

const apps: GuardApp[] = [];
/** Apps of other controllers than `start`'s (see `startWith`). */
const otherApps: INestApplication[] = [];
afterEach(async () => {
  for (const a of apps) a.gates.openAll();
  await Promise.all([...apps.splice(0).map((a) => a.app.close()), ...otherApps.splice(0).map((app) => app.close())]);
});

/** An app of these controllers (and providers) on the in-memory store, closed after the test. */
async function startWith(adapter: AdapterName, metadata: Pick<ModuleMetadata, 'controllers' | 'providers'>): Promise<INestApplication> {
  const app = await createTestApp(adapter, { imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })], ...metadata });
  otherApps.push(app);
  return app;
}

async function start(adapter: AdapterName, options: SessionStateModuleOptions = {}, globalInterceptor = false): Promise<GuardApp> {
  const { store, counter } = countingStore(options.store ?? new InMemorySessionStateStore());
  const gates = new Gates();
  const app = await createTestApp(
    adapter,
    {
      imports: [SessionStateModule.forRoot({ ...options, store })],
      controllers: [GuardedController, InterceptedController],
      providers: [{ provide: Gates, useValue: gates }],
    },
    (a) => {
      if (globalInterceptor) a.useGlobalInterceptors(noopInterceptor);
    },
  );
  const started = { app, counter, gates, lifecycle: app.get(SessionStateLifecycle) };
  apps.push(started);
  return started;
}

async function newSession(t: GuardApp): Promise<string> {
  const res = await request(t.app.getHttpServer()).post('/g/count').expect(200);
  expect(res.body).toEqual({ count: 1 });
  return sessionCookie(res.headers)!;
}

describe('guard binding: startup', () => {
  it('binds no session interceptor to the guarded routes, and keeps it on the others', async () => {
    await start('express');
    const own = (handler: Function) => (Reflect.getMetadata(INTERCEPTORS_METADATA, handler) ?? []) as unknown[];
    expect(own(GuardedController.prototype.count)).not.toContain(SessionStateInterceptor);
    expect(own(GuardedController.prototype.read)).not.toContain(SessionStateInterceptor);
    expect(own(InterceptedController.prototype.count)).toContain(SessionStateInterceptor);
  });

  it.each([
    [
      'a handler that takes @Res()',
      (() => {
        @Controller('r')
        @UseGuards(SessionStateGuard)
        class ResController {
          @Post()
          answer(@Session() session: HttpSessionState, @Res() res: ServerResponse) {
            session.set('x', 1);
            res.end('ok');
          }
        }
        return ResController;
      })(),
      /ResController\.answer\(\).*@Res\(\)/,
    ],
    [
      'an @Sse() stream',
      (() => {
        @Controller('s')
        class SseController {
          @Sse('events')
          @UseGuards(SessionStateGuard)
          events(@Session() session: HttpSessionState) {
            return of({ data: session.get('x') ?? null });
          }
        }
        return SseController;
      })(),
      /SseController\.events\(\).*stream/,
    ],
  ])('fails at startup for %s', async (_name, controller, message) => {
    await expect(
      createTestApp('express', { imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })], controllers: [controller] }),
    ).rejects.toThrow(message);
  });

  it('fails at startup for a saveOnError predicate (the answer has no error to give it)', async () => {
    await expect(
      createTestApp('express', {
        imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), saveOnError: () => true })],
        controllers: [GuardedController],
        providers: [{ provide: Gates, useValue: new Gates() }],
      }),
    ).rejects.toThrow(/saveOnError is a predicate/);
  });

  it('fails at startup for a provider (a gateway or resolver is not an HTTP route)', async () => {
    @Injectable()
    @UseGuards(SessionStateGuard)
    class NotAController {
      handle(@Session() session: HttpSessionState) {
        return session.id;
      }
    }
    await expect(
      createTestApp('express', { imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })], providers: [NotAController] }),
    ).rejects.toThrow(/NotAController\.handle\(\).*not an HTTP controller route/);
  });

  it("Express: a held answer keeps the prototype Express gave it (the hooks are on that application's app.response; another application's stays as it was until it holds one)", async () => {
    const [a, b] = await Promise.all([start('express'), start('express')]);
    const other = b.app.getHttpAdapter().getInstance() as { response: object };
    const res = await request(a.app.getHttpServer()).post('/g/prototype').expect(200, { expressPrototype: true, appHooked: true });
    expect(Object.hasOwn(other.response, 'end')).toBe(false);
    await request(b.app.getHttpServer()).post('/i/count').expect(200, { count: 1 }); // the interceptor binding holds nothing
    expect(Object.hasOwn(other.response, 'end')).toBe(false);
    await request(b.app.getHttpServer()).post('/g/prototype').expect(200, { expressPrototype: true, appHooked: true });
    // The hooked application's other routes answer as before, with the session's cookie.
    const cookie = sessionCookie(res.headers)!;
    await request(a.app.getHttpServer()).post('/i/count').set('Cookie', cookie).expect(200, { count: 1 });
    await request(a.app.getHttpServer()).post('/g/count').set('Cookie', cookie).expect(200, { count: 2 });
  });

  it('two applications created at once both run the guarded routes', async () => {
    const [a, b] = await Promise.all([start('express'), start('fastify')]);
    for (const t of [a, b]) {
      const cookie = await newSession(t);
      await request(t.app.getHttpServer()).post('/g/count').set('Cookie', cookie).expect(200, { count: 2 });
      await request(t.app.getHttpServer()).post('/i/count').set('Cookie', cookie).expect(200, { count: 3 });
    }
  });
});

describe.each(ADAPTERS.flatMap((adapter) => [false, true].map((globalInterceptor) => [adapter, globalInterceptor] as const)))(
  'guard binding on %s (global interceptor: %s)',
  (adapter, globalInterceptor) => {
    it('store calls: read-write 2, read-only 1, no session 0; a new session is stored with its cookie', async () => {
      const t = await start(adapter, {}, globalInterceptor);
      const cookie = await newSession(t);
      expect(t.counter.sequence).toEqual(['setAndReleaseItemExclusive']);
      t.counter.reset();
      await request(t.app.getHttpServer()).post('/g/count').set('Cookie', cookie).expect(200, { count: 2 });
      expect(t.counter.sequence).toEqual(['getItemExclusive', 'setAndReleaseItemExclusive']);
      t.counter.reset();
      await request(t.app.getHttpServer()).get('/g/count').set('Cookie', cookie).expect(200, { count: 2 });
      expect(t.counter.sequence).toEqual(['getItem']);
      t.counter.reset();
      await request(t.app.getHttpServer()).get('/g/free').set('Cookie', cookie).expect(200);
      expect(t.counter.total()).toBe(0);
      expect(t.lifecycle.activeLeases).toBe(0);
    });

    it('50 concurrent writes of one session: 50, every answer 200', async () => {
      const t = await start(adapter, {}, globalInterceptor);
      const cookie = await newSession(t);
      const answers = await Promise.all(Array.from({ length: 50 }, () => request(t.app.getHttpServer()).post('/g/count').set('Cookie', cookie)));
      expect(answers.map((r) => r.status)).toEqual(Array(50).fill(200));
      expect(answers.map((r) => (r.body as { count: number }).count).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
      await request(t.app.getHttpServer()).get('/g/count').set('Cookie', cookie).expect(200, { count: 51 });
    });

    it('holds the lock for the whole handler: a second request waits until the first answered', async () => {
      const t = await start(adapter, {}, globalInterceptor);
      const cookie = await newSession(t);
      const first = request(t.app.getHttpServer())
        .post('/g/count?gate=hold')
        .set('Cookie', cookie)
        .then((r) => r);
      await t.gates.arrived('hold');
      const id = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)).split('.')[0]!;
      const second = request(t.app.getHttpServer())
        .post('/g/count')
        .set('Cookie', cookie)
        .then((r) => r);
      await vi.waitFor(() => expect(t.lifecycle.locks.waiting(id)).toBe(1));
      t.gates.open('hold');
      expect((await first).body).toEqual({ count: 2 });
      expect((await second).body).toEqual({ count: 3 });
    });

    it("an error answer discards the request's changes and releases the lock", async () => {
      const t = await start(adapter, {}, globalInterceptor);
      const cookie = await newSession(t);
      await request(t.app.getHttpServer()).post('/g/refused').set('Cookie', cookie).expect(400);
      await request(t.app.getHttpServer()).post('/g/broken').set('Cookie', cookie).expect(500);
      await request(t.app.getHttpServer()).get('/g/seen').set('Cookie', cookie).expect(200, { refused: null, broken: null });
      await request(t.app.getHttpServer()).post('/g/count').set('Cookie', cookie).expect(200, { count: 2 });
      expect(t.lifecycle.activeLeases).toBe(0);
    });

    it("saveOnError 'client-errors' keeps a 4xx's changes, never a 5xx's", async () => {
      const t = await start(adapter, { saveOnError: 'client-errors' }, globalInterceptor);
      const cookie = await newSession(t);
      await request(t.app.getHttpServer()).post('/g/refused').set('Cookie', cookie).expect(400);
      await request(t.app.getHttpServer()).post('/g/broken').set('Cookie', cookie).expect(500);
      await request(t.app.getHttpServer()).get('/g/seen').set('Cookie', cookie).expect(200, { refused: true, broken: null });
    });

    it('regenerate moves the session to a new id (the old one is gone); abandon removes it', async () => {
      const t = await start(adapter, {}, globalInterceptor);
      const cookie = await newSession(t);
      const login = await request(t.app.getHttpServer()).post('/g/login').set('Cookie', cookie).expect(200);
      const moved = sessionCookie(login.headers)!;
      expect(moved).toBeDefined();
      expect(moved).not.toBe(cookie);
      await request(t.app.getHttpServer()).get('/g/count').set('Cookie', moved).expect(200, { count: 1 });
      await request(t.app.getHttpServer()).get('/g/count').set('Cookie', cookie).expect(200, { count: 0 });
      const logout = await request(t.app.getHttpServer()).post('/g/logout').set('Cookie', moved).expect(200);
      expect(sessionCookie(logout.headers)).toBe('sid=');
      await request(t.app.getHttpServer()).get('/g/count').set('Cookie', moved).expect(200, { count: 0 });
    });

    it('a read-only request re-signs a cookie signed with an older secret before its answer goes out', async () => {
      const shared = new InMemorySessionStateStore();
      const before = await start(adapter, { store: shared, secret: 'old-secret-0123456789' }, globalInterceptor);
      const cookie = await newSession(before);
      const t = await start(adapter, { store: shared, secret: ['new-secret-0123456789', 'old-secret-0123456789'] }, globalInterceptor);
      const read = await request(t.app.getHttpServer()).get('/g/count').set('Cookie', cookie).expect(200, { count: 1 });
      const resigned = sessionCookie(read.headers);
      expect(resigned).toBeDefined();
      expect(resigned).not.toBe(cookie);
      const again = await request(t.app.getHttpServer()).get('/g/count').set('Cookie', resigned!).expect(200, { count: 1 });
      expect(sessionCookie(again.headers)).toBeUndefined(); // signed with the current secret: nothing to send
    });

    it('a client that leaves while its request waits for the lock: its handler never runs, no lock left', async () => {
      const t = await start(adapter, {}, globalInterceptor);
      await t.app.listen(0, '127.0.0.1');
      const cookie = await newSession(t);
      const id = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)).split('.')[0]!;
      const holder = request(t.app.getHttpServer())
        .post('/g/count?gate=hold')
        .set('Cookie', cookie)
        .then((r) => r);
      await t.gates.arrived('hold');
      const port = (t.app.getHttpServer().address() as { port: number }).port;
      const leaving = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/g/count', headers: { cookie }, agent: false });
      leaving.on('error', () => {});
      leaving.end();
      await vi.waitFor(() => expect(t.lifecycle.locks.waiting(id)).toBe(1));
      leaving.destroy();
      await vi.waitFor(() => expect(t.lifecycle.locks.waiting(id)).toBe(0));
      t.gates.open('hold');
      expect((await holder).body).toEqual({ count: 2 });
      // The leaving request never counted: the next one sees 3.
      await request(t.app.getHttpServer()).post('/g/count').set('Cookie', cookie).expect(200, { count: 3 });
      expect(t.lifecycle.activeLeases).toBe(0);
    });
  },
);

describe.each(ADAPTERS)('guard binding with an outer timeout interceptor on %s', (adapter) => {
  it('the 408 ends the hold (documented): its changes discarded, the lock released while the handler still runs', async () => {
    const t = await start(adapter);
    const cookie = await newSession(t);
    const timedOut = request(t.app.getHttpServer())
      .post('/g/slow')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('slow');
    expect((await timedOut).status).toBe(408);
    // The handler is still parked: the next request of the session runs meanwhile (the default binding would wait).
    await request(t.app.getHttpServer()).post('/g/count').set('Cookie', cookie).expect(200, { count: 2 });
    t.gates.open('slow');
    await vi.waitFor(() => expect(t.lifecycle.activeLeases).toBe(0));
    // What the handler wrote after its answer was not saved.
    await request(t.app.getHttpServer()).get('/g/slow').set('Cookie', cookie).expect(200, { slow: null });
    await request(t.app.getHttpServer()).get('/g/count').set('Cookie', cookie).expect(200, { count: 2 });
  });
});

/** The routes of a class without the guard, inherited by one with it: their handlers keep the session interceptor. */
@Controller('base')
class UnguardedBase {
  @Get('count')
  @SessionState(SessionStateBehavior.ReadOnly)
  read(@Session() session: HttpSessionState) {
    return { count: session.get<number>('count') ?? 0 };
  }

  @Post('count')
  @HttpCode(200)
  count(@Session() session: HttpSessionState) {
    const count = (session.get<number>('count') ?? 0) + 1;
    session.set('count', count);
    return { count };
  }
}

@Controller('sub')
@UseGuards(SessionStateGuard)
class GuardedSubclass extends UnguardedBase {}

describe.each(ADAPTERS)('guard binding with the interceptor also bound (an inherited handler) on %s', (adapter) => {
  it('the interceptor takes the guard session over: reads and writes answer 200, nothing left held', async () => {
    const app = await startWith(adapter, { controllers: [GuardedSubclass] });
    expect((Reflect.getMetadata(INTERCEPTORS_METADATA, UnguardedBase.prototype.read) ?? []) as unknown[]).toContain(SessionStateInterceptor);
    const first = await request(app.getHttpServer()).post('/sub/count').expect(200, { count: 1 });
    const cookie = sessionCookie(first.headers)!;
    await request(app.getHttpServer()).get('/sub/count').set('Cookie', cookie).expect(200, { count: 1 });
    await request(app.getHttpServer()).post('/sub/count').set('Cookie', cookie).expect(200, { count: 2 });
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
});

/** A logging method decorator that replaces the handler without copying its metadata. */
const Logged = (): MethodDecorator => (_target, _key, descriptor: PropertyDescriptor) => {
  const original = descriptor.value as (...args: unknown[]) => unknown;
  descriptor.value = function (this: unknown, ...args: unknown[]) {
    return original.apply(this, args);
  };
};

@Controller('wrapped')
@UseGuards(SessionStateGuard)
class WrappedHandlers {
  @Post('count')
  @HttpCode(200)
  @Logged()
  count(@Session() session: HttpSessionState) {
    const count = (session.get<number>('count') ?? 0) + 1;
    session.set('count', count);
    return { count };
  }
}

describe.each(ADAPTERS)('guard binding on a handler a method decorator replaced, on %s', (adapter) => {
  it('binds it by the guard (no interceptor) and serves it: 20 concurrent writes, 20', async () => {
    const app = await startWith(adapter, { controllers: [WrappedHandlers] });
    expect((Reflect.getMetadata(INTERCEPTORS_METADATA, WrappedHandlers.prototype.count) ?? []) as unknown[]).not.toContain(SessionStateInterceptor);
    const cookie = sessionCookie((await request(app.getHttpServer()).post('/wrapped/count').expect(200, { count: 1 })).headers)!;
    const answers = await Promise.all(Array.from({ length: 20 }, () => request(app.getHttpServer()).post('/wrapped/count').set('Cookie', cookie)));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    await request(app.getHttpServer()).post('/wrapped/count').set('Cookie', cookie).expect(200, { count: 22 });
  });
});

describe.each(ADAPTERS)('SessionStateGuard made global (APP_GUARD) on %s', (adapter) => {
  it('the routes keep their interceptor, which takes the session over: 20 concurrent writes, 20; reads 200', async () => {
    const app = await startWith(adapter, { controllers: [UnguardedBase], providers: [{ provide: APP_GUARD, useClass: SessionStateGuard }] });
    const cookie = sessionCookie((await request(app.getHttpServer()).post('/base/count').expect(200, { count: 1 })).headers)!;
    const answers = await Promise.all(Array.from({ length: 20 }, () => request(app.getHttpServer()).post('/base/count').set('Cookie', cookie)));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    await request(app.getHttpServer()).get('/base/count').set('Cookie', cookie).expect(200, { count: 21 });
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
});

describe('guard binding: an answer that goes out without the guard seeing it', () => {
  it('completes the session when the connection closes: the data saved, no lock left', async () => {
    const t = await start('express');
    const cookie = await newSession(t);
    const warn = vi.spyOn(t.lifecycle, 'warn');
    await request(t.app.getHttpServer()).post('/g/rehooked').set('Cookie', cookie).expect(200);
    await vi.waitFor(() => expect(t.lifecycle.activeLeases).toBe(0));
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/without the session guard seeing it/));
    await request(t.app.getHttpServer()).post('/g/count').set('Cookie', cookie).expect(200, { count: 2 });
  });
});

describe.each(ADAPTERS)('guard binding under mountSessionState on %s', (adapter) => {
  it('req.session and @Session() see one session; 30 concurrent writes: 30; reads take no lock', async () => {
    const { store, counter } = countingStore(new InMemorySessionStateStore());
    const gates = new Gates();
    const moduleRef = await Test.createTestingModule({
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [GuardedController],
      providers: [{ provide: Gates, useValue: gates }],
    }).compile();
    const app =
      adapter === 'fastify'
        ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false })
        : moduleRef.createNestApplication({ logger: false });
    await mountSessionState(app);
    await app.init();
    if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
    const t = { app, counter, gates, lifecycle: app.get(SessionStateLifecycle) };
    apps.push(t);
    const cookie = await newSession(t);
    const answers = await Promise.all(Array.from({ length: 30 }, () => request(app.getHttpServer()).post('/g/count').set('Cookie', cookie)));
    expect(answers.map((r) => r.status)).toEqual(Array(30).fill(200));
    t.counter.reset();
    await request(app.getHttpServer()).get('/g/count').set('Cookie', cookie).expect(200, { count: 31 });
    expect(t.counter.sequence).toEqual(['getItem']);
    await request(app.getHttpServer()).post('/g/refused').set('Cookie', cookie).expect(400);
    await request(app.getHttpServer()).get('/g/seen').set('Cookie', cookie).expect(200, { refused: null, broken: null });
    expect(t.lifecycle.activeLeases).toBe(0);
  });
});
