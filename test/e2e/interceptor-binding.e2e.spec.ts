import {
  Controller,
  Get,
  Injectable,
  Module,
  Post,
  type CallHandler,
  type ExecutionContext,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { tap } from 'rxjs';
import request from 'supertest';
import { HttpSessionState, Session, SessionState, SessionStateBehavior, SessionStateModule } from '../../src/index.js';
import { SessionStateInterceptor } from '../../src/session-state.interceptor.js';
import { SessionStateLifecycle } from '../../src/session-state.lifecycle.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';

/** The order in which interceptors saw a request, and whether ours had the session then. */
const seen: string[] = [];

@Injectable()
class AppInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    seen.push('app interceptor');
    return next.handle().pipe(tap(() => seen.push('app interceptor: handler done')));
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

/** Controllers in a feature module that does not import SessionStateModule (it is global). */
@Module({ controllers: [FeatureController, DeclaredController] })
class FeatureModule {}

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
    expect(intercepted).toHaveBeenCalledTimes(2);
    expect(seen.slice(0, 3)).toEqual(['app interceptor', 'handler', 'app interceptor: handler done']);
  });

  it('bound by the class and by @Session(): the lifecycle runs once per request', async () => {
    const first = await request(app.getHttpServer()).post('/declared/count').expect(201, { count: 1 });
    const cookie = sessionCookie(first.headers)!;
    await request(app.getHttpServer()).post('/declared/count').set('Cookie', cookie).expect(201, { count: 2 });
    await request(app.getHttpServer()).get('/declared/count').set('Cookie', cookie).expect(200, { count: 2 });
    expect(intercepted).toHaveBeenCalledTimes(6);
    expect(acquired).toHaveBeenCalledTimes(3);
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
