import {
  Controller,
  Get,
  Header,
  Injectable,
  Module,
  Post,
  Query,
  Scope,
  SetMetadata,
  UseGuards,
  UseInterceptors,
  type CanActivate,
  type CallHandler,
  type ExecutionContext,
  type INestApplication,
  type NestInterceptor,
  type Type,
} from '@nestjs/common';
import { APP_INTERCEPTOR, Reflector } from '@nestjs/core';
import { tap } from 'rxjs';
import request from 'supertest';
import {
  HttpSessionState,
  InMemorySessionStateStore,
  Session,
  SessionState,
  SessionStateAccessor,
  SessionStateBehavior,
  SessionStateModule,
} from '../../src/index.js';
import { TimeoutInterceptor } from '../support/timeout.interceptor.js';
import { SessionStateInterceptor } from '../../src/nest/session-state.interceptor.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { idOf } from './session-app.js';

/** The order in which interceptors saw a request, and whether ours had the session then. */
const seen: string[] = [];

@Injectable()
class AppInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    seen.push('app interceptor');
    return next.handle().pipe(tap(() => seen.push('app interceptor: handler done')));
  }
}

/** Lets a request through only if the handler's own metadata reached it. */
@Injectable()
class TagGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}
  canActivate(context: ExecutionContext) {
    return this.reflector.get<string>('tag', context.getHandler()) === 'kept';
  }
}

@Controller('feature')
class FeatureController {
  @Get('ping')
  ping() {
    return 'pong';
  }

  @Post('count')
  count(@Session() session: HttpSessionState) {
    seen.push('handler');
    session.set('count', (session.get<number>('count') ?? 0) + 1);
    return { count: session.get<number>('count') };
  }

  @Post('tagged')
  @SetMetadata('tag', 'kept')
  @Header('x-kept', 'yes')
  @UseGuards(TagGuard)
  tagged(@Session() session: HttpSessionState) {
    session.set('tagged', true);
    return 'tagged';
  }
}

/** Declared on the class and taking @Session() too: bound twice, the lifecycle runs once. */
@Controller('declared')
@SessionState(SessionStateBehavior.Required)
class DeclaredController {
  @Post('count')
  count(@Session() session: HttpSessionState) {
    session.set('count', (session.get<number>('count') ?? 0) + 1);
    return { count: session.get<number>('count') };
  }

  @Get('count')
  @SessionState(SessionStateBehavior.ReadOnly)
  read(@Session() session: HttpSessionState) {
    return { count: session.get<number>('count') ?? 0 };
  }
}

/** Handlers of one session that must never run at once, with the app's timeout interceptor on the method or the class. */
let timedGates = new Gates();
/** The first request of a test parks at gate 'first' (the timed-out one); the others pass. */
async function exclusiveWork(session: HttpSessionState, first: boolean): Promise<{ count: number }> {
  if (first) await timedGates.pass('first');
  session.set('count', (session.get<number>('count') ?? 0) + 1);
  return { count: session.get<number>('count')! };
}

@Controller('timed')
class TimedController {
  // @Session() (a parameter decorator) runs before @UseInterceptors(): ours must still end up inside.
  @Post('method')
  @UseInterceptors(TimeoutInterceptor)
  method(@Session() session: HttpSessionState, @Query('first') first?: string) {
    return exclusiveWork(session, first !== undefined);
  }
}

// Decorators apply bottom-up: @SessionState() binds ours first, @UseInterceptors() then adds the timeout after it.
@Controller('timed-class')
@UseInterceptors(TimeoutInterceptor)
@SessionState(SessionStateBehavior.Required)
class TimedClassController {
  @Post()
  work(@Session() session: HttpSessionState, @Query('first') first?: string) {
    return exclusiveWork(session, first !== undefined);
  }
}

/** A controller whose route a subclass inherits, with an interceptor of its own class. */
@Controller('timed-base')
class TimedBaseController {
  @Post()
  work(@Session() session: HttpSessionState, @Query('first') first?: string) {
    return exclusiveWork(session, first !== undefined);
  }
}

@Controller('timed-sub')
@UseInterceptors(TimeoutInterceptor)
class TimedSubController extends TimedBaseController {}

/** Request-scoped: Nest builds its route per request. */
@Controller({ path: 'scoped', scope: Scope.REQUEST })
class ScopedController {
  @Post('count')
  count(@Session() session: HttpSessionState) {
    session.set('count', (session.get<number>('count') ?? 0) + 1);
    return { count: session.get<number>('count') };
  }
}

@Injectable()
class SignedInGuard implements CanActivate {
  constructor(private readonly sessions: SessionStateAccessor) {}
  async canActivate(context: ExecutionContext) {
    return (await this.sessions.get(context)).has('user');
  }
}

/** Writes to the session from a guard (Required: it takes the lock), before a later guard decides. */
@Injectable()
class StampGuard implements CanActivate {
  constructor(private readonly sessions: SessionStateAccessor) {}
  async canActivate(context: ExecutionContext) {
    const session = await this.sessions.get(context);
    session.set('stamps', (session.get<number>('stamps') ?? 0) + 1);
    return true;
  }
}

/** Refuses every request (403). */
@Injectable()
class DenyGuard implements CanActivate {
  canActivate() {
    return false;
  }
}

@Controller('guarded')
class GuardedController {
  @Post('login')
  login(@Session() session: HttpSessionState) {
    session.set('user', 'ada');
    return 'in';
  }

  /** A guard writes to the session, a later guard refuses: the handler never runs. */
  @Post('stamp-denied')
  @SessionState(SessionStateBehavior.Required)
  @UseGuards(StampGuard, DenyGuard)
  stampDenied(@Session() session: HttpSessionState) {
    session.set('handler', true);
    return 'never';
  }

  @Post('stamp')
  @SessionState(SessionStateBehavior.Required)
  @UseGuards(StampGuard)
  stamp(@Session() session: HttpSessionState) {
    return { stamps: session.get<number>('stamps') };
  }

  /** Uses no session itself: only its guard reads it. */
  @Get('data')
  @UseGuards(SignedInGuard)
  data() {
    return 'data';
  }
}

/** One route method inherited by a controller declared Required and by one without a session. */
class ListRoutes {
  @Get('list')
  list() {
    return 'list';
  }
}

@Controller('with-session')
@SessionState(SessionStateBehavior.Required)
class WithSessionList extends ListRoutes {}

@Controller('without-session')
class WithoutSessionList extends ListRoutes {}

/** Controllers in a feature module that does not import SessionStateModule (it is global). */
@Module({
  controllers: [
    FeatureController,
    DeclaredController,
    TimedController,
    TimedClassController,
    TimedBaseController,
    TimedSubController,
    ScopedController,
    GuardedController,
    WithSessionList,
    WithoutSessionList,
  ],
  providers: [TimeoutInterceptor, SignedInGuard, TagGuard, StampGuard, DenyGuard],
})
class FeatureModule {}

/** A request timed out by its route's own interceptor while its handler runs: the next request of the session waits for that handler, whose change is discarded. */
async function expectTimedOutHandlerAlone(app: INestApplication, path: string): Promise<void> {
  const http = app.getHttpServer();
  const cookie = sessionCookie((await request(http).post('/feature/count').expect(201)).headers)!;
  const late = request(http)
    .post(`${path}?first`)
    .set('Cookie', cookie)
    .set('x-timeout-ms', '50')
    .then((r) => r);
  await timedGates.arrived('first');
  expect((await late).status).toBe(408); // answered while its handler still runs
  const next = request(http)
    .post(path)
    .set('Cookie', cookie)
    .then((r) => r);
  // It waits for the timed-out handler, which still holds the session.
  await vi.waitFor(() => expect(app.get(SessionStateLifecycle).locks.waiting(idOf(cookie))).toBe(1));
  timedGates.open('first');
  expect((await next).status).toBe(201);
  // The timed-out request's change was discarded: only the second one counted.
  expect((await next).body).toEqual({ count: 2 });
}

describe.each(ADAPTERS)('the interceptor is bound to the handlers that use the session, over %s', (adapter) => {
  let app: INestApplication;
  let intercepted: ReturnType<typeof vi.spyOn>;
  let acquired: ReturnType<typeof vi.spyOn>;
  beforeEach(async () => {
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot(), FeatureModule],
      providers: [{ provide: APP_INTERCEPTOR, useClass: AppInterceptor }],
    });
    intercepted = vi.spyOn(SessionStateInterceptor.prototype, 'intercept');
    acquired = vi.spyOn(SessionStateLifecycle.prototype, 'acquire');
    seen.length = 0;
  });
  afterEach(async () => {
    timedGates.openAll();
    timedGates = new Gates();
    vi.restoreAllMocks();
    await app.close();
  });

  it('a handler without the session has no session interceptor at all', async () => {
    await request(app.getHttpServer()).get('/feature/ping').expect(200, 'pong');
    expect(intercepted).not.toHaveBeenCalled();
    expect(seen).toEqual(['app interceptor', 'app interceptor: handler done']);
  });

  it("in a module that does not import SessionStateModule; innermost: the app's own interceptors run around it", async () => {
    const first = await request(app.getHttpServer()).post('/feature/count').expect(201, { count: 1 });
    await request(app.getHttpServer()).post('/feature/count').set('Cookie', sessionCookie(first.headers)!).expect(201, { count: 2 });
    // The app has an interceptor of its own: the session's interceptor runs, innermost.
    expect(intercepted).toHaveBeenCalledTimes(2);
    expect(seen.slice(0, 3)).toEqual(['app interceptor', 'handler', 'app interceptor: handler done']);
  });

  it("an inherited handler follows each class's declaration: no session where its class declares none", async () => {
    await request(app.getHttpServer()).get('/without-session/list').expect(200, 'list');
    expect(acquired).not.toHaveBeenCalled();
    await request(app.getHttpServer()).get('/with-session/list').expect(200, 'list');
    expect(acquired).toHaveBeenCalledTimes(1);
  });

  it('bound by the class and by @Session(): it runs once per request', async () => {
    const first = await request(app.getHttpServer()).post('/declared/count').expect(201, { count: 1 });
    const cookie = sessionCookie(first.headers)!;
    await request(app.getHttpServer()).post('/declared/count').set('Cookie', cookie).expect(201, { count: 2 });
    await request(app.getHttpServer()).get('/declared/count').set('Cookie', cookie).expect(200, { count: 2 });
    expect(intercepted).toHaveBeenCalledTimes(3);
    expect(acquired).toHaveBeenCalledTimes(3);
  });

  it.each(['/timed/method', '/timed-class', '/timed-sub'])(
    "innermost, whatever the decorators' order (%s): a timeout of the handler's own interceptor never lets two handlers of one session run at once",
    async (path) => {
      await expectTimedOutHandlerAlone(app, path);
      // A handler with an interceptor of its own keeps the session's interceptor (innermost).
      expect(intercepted).toHaveBeenCalled();
    },
  );
});

/** Two requests of one session on `path`: the second waits for the first's handler, then both are saved. */
async function expectSerialised(app: INestApplication, path: string): Promise<void> {
  const http = app.getHttpServer();
  const cookie = sessionCookie((await request(http).post('/feature/count').expect(201, { count: 1 })).headers)!;
  const first = request(http)
    .post(`${path}?first`)
    .set('Cookie', cookie)
    .then((r) => r);
  await timedGates.arrived('first');
  const second = request(http)
    .post(path)
    .set('Cookie', cookie)
    .then((r) => r);
  await vi.waitFor(() => expect(app.get(SessionStateLifecycle).locks.waiting(idOf(cookie))).toBe(1));
  timedGates.open('first');
  expect([(await first).status, (await first).body]).toEqual([201, { count: 2 }]);
  expect([(await second).status, (await second).body]).toEqual([201, { count: 3 }]);
}

/**
 * A request that an outer interceptor gives up on while it waits for the lock (timeout → 408): its
 * wait is stopped and its handler never runs (the interceptor of the session is inside the timeout's reach).
 */
async function expectTimedOutWaiterNeverRuns(app: INestApplication, path: string): Promise<void> {
  const http = app.getHttpServer();
  const cookie = sessionCookie((await request(http).post('/feature/count').expect(201, { count: 1 })).headers)!;
  const first = request(http)
    .post(`${path}?first`)
    .set('Cookie', cookie)
    .then((r) => r);
  await timedGates.arrived('first');
  const waiter = await request(http).post(path).set('Cookie', cookie).set('x-timeout-ms', '100');
  expect(waiter.status).toBe(408);
  expect(app.get(SessionStateLifecycle).locks.waiting(idOf(cookie))).toBe(0); // the wait was stopped
  timedGates.open('first');
  expect((await first).body).toEqual({ count: 2 });
  // The timed-out request never ran: the next one counts 3.
  await request(http).post(path).set('Cookie', cookie).expect(201, { count: 3 });
}

describe.each(ADAPTERS)('a route without interceptors of its own, over %s', (adapter) => {
  let intercepted: ReturnType<typeof vi.spyOn>;
  beforeEach(() => {
    intercepted = vi.spyOn(SessionStateInterceptor.prototype, 'intercept');
  });
  afterEach(() => {
    timedGates.openAll();
    timedGates = new Gates();
    vi.restoreAllMocks();
  });
  const start = (globalInterceptor?: 'provider' | 'useGlobalInterceptors', interceptor: Type = AppInterceptor) =>
    createTestApp(
      adapter,
      {
        imports: [SessionStateModule.forRoot(), FeatureModule],
        providers: globalInterceptor === 'provider' ? [{ provide: APP_INTERCEPTOR, useClass: interceptor }] : [],
      },
      globalInterceptor === 'useGlobalInterceptors' ? (app) => void app.useGlobalInterceptors(new interceptor()) : undefined,
    );

  it("in an app without global interceptors, runs the session interceptor, and the handler's own metadata reaches Nest untouched", async () => {
    const app = await start();
    try {
      // TagGuard lets the request through only if the handler's own metadata is where Nest reads it.
      const answer = await request(app.getHttpServer()).post('/feature/tagged').expect(201, 'tagged');
      expect(answer.headers['x-kept']).toBe('yes');
      const cookie = sessionCookie(answer.headers)!;
      expect(cookie).toBeDefined(); // the session was saved
      await request(app.getHttpServer()).post('/feature/count').set('Cookie', cookie).expect(201, { count: 1 });
      expect(intercepted).toHaveBeenCalledTimes(2);
    } finally {
      await app.close();
    }
  });

  it('user classes keep their own methods: nothing is wrapped or added at startup', async () => {
    const before = Object.getOwnPropertyNames(FeatureController.prototype).map((name) => [
      name,
      Object.getOwnPropertyDescriptor(FeatureController.prototype, name)!.value,
    ]);
    const app = await start();
    try {
      const after = Object.getOwnPropertyNames(FeatureController.prototype).map((name) => [
        name,
        Object.getOwnPropertyDescriptor(FeatureController.prototype, name)!.value,
      ]);
      expect(after).toEqual(before);
    } finally {
      await app.close();
    }
  });

  it.each(['/timed/method', '/timed-class', '/timed-sub'])(
    'a route with a timeout interceptor of its own (%s, the last one inherited) keeps the session interceptor innermost: never two handlers at once',
    async (path) => {
      const app = await start();
      try {
        await expectTimedOutHandlerAlone(app, path);
        expect(intercepted).toHaveBeenCalled();
      } finally {
        await app.close();
      }
    },
  );

  it('the method a subclass with interceptors inherits runs the interceptor where its own class routes it too (one function, one binding)', async () => {
    const app = await start();
    try {
      await request(app.getHttpServer()).post('/timed-base').expect(201, { count: 1 });
      expect(intercepted).toHaveBeenCalledTimes(1);
    } finally {
      await app.close();
    }
  });

  it('a request-scoped controller (its route built per request) runs the session interceptor, and every save lands', async () => {
    const app = await start();
    try {
      const http = app.getHttpServer();
      const cookie = sessionCookie((await request(http).post('/scoped/count').expect(201, { count: 1 })).headers)!;
      await request(http).post('/scoped/count').set('Cookie', cookie).expect(201, { count: 2 });
      await request(http).post('/scoped/count').set('Cookie', cookie).expect(201, { count: 3 });
      expect(intercepted).toHaveBeenCalledTimes(3);
    } finally {
      await app.close();
    }
  });

  it.each(['provider', 'useGlobalInterceptors'] as const)(
    'in an app with a global interceptor (%s), runs the session interceptor innermost, whichever app of the process started first',
    async (how) => {
      await (await start()).close();
      const app = await start(how);
      try {
        seen.length = 0;
        await request(app.getHttpServer()).post('/feature/count').expect(201, { count: 1 });
        expect(intercepted).toHaveBeenCalledTimes(1);
        expect(seen).toEqual(['app interceptor', 'handler', 'app interceptor: handler done']);
      } finally {
        await app.close();
      }
    },
  );

  it.each(['provider', 'useGlobalInterceptors'] as const)(
    'two applications created at once, one with a global timeout interceptor (%s) and one without, behave as if created one after the other',
    async (how) => {
      const [timed, bare] = await Promise.all([start(how, TimeoutInterceptor), start()]);
      try {
        // The global timeout is outer to the session's interceptor: a request timed out while it waits
        // never runs, and a timed-out handler keeps its lock until it settles.
        await expectTimedOutWaiterNeverRuns(timed, '/timed-base');
        timedGates = new Gates();
        await expectTimedOutHandlerAlone(timed, '/timed-base');
        timedGates = new Gates();
        // In both, sessions work and the requests of one session are served one at a time.
        await expectSerialised(bare, '/timed-base');
        timedGates = new Gates();
        await expectSerialised(timed, '/timed-base');
        expect(intercepted).toHaveBeenCalled();
      } finally {
        await Promise.all([timed.close(), bare.close()]);
      }
    },
  );
});

describe.each(ADAPTERS)('a guard reading the session of a handler that uses none, over %s', (adapter) => {
  it('the cookie is still signed again after a secret rotation (the session is completed in the guard)', async () => {
    const store = new InMemorySessionStateStore();
    const start = (secret: string[]) => createTestApp(adapter, { imports: [SessionStateModule.forRoot({ store, secret }), FeatureModule] });
    const before = await start(['old-secret-0123456789abcdef']);
    const cookie = sessionCookie((await request(before.getHttpServer()).post('/guarded/login').expect(201)).headers)!;
    await before.close();
    const rotated = await start(['new-secret-0123456789abcdef', 'old-secret-0123456789abcdef']);
    try {
      const answer = await request(rotated.getHttpServer()).get('/guarded/data').set('Cookie', cookie).expect(200, 'data');
      const resigned = sessionCookie(answer.headers);
      expect(resigned).toBeDefined();
      expect(resigned).not.toBe(cookie);
      await request(rotated.getHttpServer()).get('/guarded/data').set('Cookie', resigned!).expect(200, 'data');
    } finally {
      await rotated.close();
    }
  });
});

describe.each(ADAPTERS)('a guard that writes to the session of a request a later guard refuses, over %s', (adapter) => {
  it("the refusal (403) discards the guard's change, and the lock is released", async () => {
    const app = await createTestApp(adapter, { imports: [SessionStateModule.forRoot(), FeatureModule] });
    try {
      const http = app.getHttpServer();
      const first = await request(http).post('/guarded/stamp').expect(201, { stamps: 1 });
      const cookie = sessionCookie(first.headers)!;
      await request(http).post('/guarded/stamp-denied').set('Cookie', cookie).expect(403);
      // Not stored: the next stamp counts 2, not 3; and it got the lock at once.
      await request(http).post('/guarded/stamp').set('Cookie', cookie).expect(201, { stamps: 2 });
      expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    } finally {
      await app.close();
    }
  });
});

describe('a handler that takes @Session() in an app without SessionStateModule', () => {
  it('starts (no dependency error), and the request gets a clear error', async () => {
    const errors: string[] = [];
    const app = await createTestApp('express', { controllers: [FeatureController] });
    app.useLogger({ log() {}, warn() {}, error: (message: unknown) => void errors.push(String(message)) });
    try {
      await request(app.getHttpServer()).get('/feature/ping').expect(200);
      await request(app.getHttpServer()).post('/feature/count').expect(500);
      expect(errors.join('\n')).toMatch(/SessionStateModule is not imported/);
    } finally {
      await app.close();
    }
  });
});
