import { Controller, HttpCode, Injectable, Post, UseGuards, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import request from 'supertest';
import { Session, SessionState, SessionStateAccessor, SessionStateBehavior, SessionStateModule, type HttpSessionState } from '../../src/index.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';

/*
 * A controller that inherits a class-level `@SessionState(Required)`: its own handlers use the
 * session too, whatever order the startup pass meets the base and the subclass in (review of this
 * round's change: the base, met first, lost its binding, and the subclass's handlers then got none).
 */

/** A guard that records a visit in the session (the README's pattern for guards). */
@Injectable()
class VisitGuard implements CanActivate {
  constructor(private readonly sessions: SessionStateAccessor) {}
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const session = await this.sessions.get(context);
    session.set('visits', (session.get<number>('visits') ?? 0) + 1);
    return true;
  }
}

@Controller('reader')
class ReaderController {
  @Post('read')
  @HttpCode(200)
  read(@Session() session: HttpSessionState) {
    return { visits: session.get<number>('visits') ?? 0 };
  }
}

/** Fresh classes for each case: the startup pass writes the classes' metadata, which is the process's. */
function controllers(): { Base: Type; Child: Type } {
  @SessionState(SessionStateBehavior.Required)
  @Controller('base')
  class BaseController {
    @Post('count')
    @HttpCode(200)
    count(@Session() session: HttpSessionState) {
      return { visits: session.get<number>('visits') ?? 0 };
    }
  }
  @Controller('child')
  class ChildController extends BaseController {
    @Post('visit')
    @HttpCode(200)
    @UseGuards(VisitGuard)
    visit() {
      return { ok: true };
    }
  }
  return { Base: BaseController, Child: ChildController };
}

describe.each(ADAPTERS)('a controller inheriting a class-level @SessionState(), on %s', (adapter) => {
  it.each([
    ['the subclass alone', ({ Child }: ReturnType<typeof controllers>) => [Child]],
    ['the subclass, then its base', ({ Base, Child }: ReturnType<typeof controllers>) => [Child, Base]],
    ['the base, then its subclass', ({ Base, Child }: ReturnType<typeof controllers>) => [Base, Child]],
  ])("%s: a guard's change in a handler of the subclass is saved", async (_order, pick) => {
    const app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot()],
      controllers: [...pick(controllers()), ReaderController],
      providers: [VisitGuard],
    });
    try {
      const http = app.getHttpServer();
      const cookie = sessionCookie((await request(http).post('/child/visit').expect(200)).headers);
      expect(cookie).toBeDefined();
      await request(http).post('/child/visit').set('Cookie', cookie!).expect(200);
      expect((await request(http).post('/reader/read').set('Cookie', cookie!).expect(200)).body).toEqual({ visits: 2 });
    } finally {
      await app.close();
    }
  });
});
