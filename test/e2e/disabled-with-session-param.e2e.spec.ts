/**
 * `@Session()` on a handler declared `@SessionState(SessionStateBehavior.Disabled)` (on the handler,
 * or on its controller) is a contradiction the classes alone show: the handler never has a session.
 * Startup refuses it naming the handler, instead of an app whose every request to it answers 500.
 */
import { Controller, Get, Post, type Type } from '@nestjs/common';
import request from 'supertest';
import { HttpSessionState, Session, SessionState, SessionStateBehavior, SessionStateError, SessionStateModule } from 'nestjs-session-state';
import { createTestApp } from '../support/test-app.js';

@Controller('webhooks')
@SessionState(SessionStateBehavior.Disabled)
class WebhooksController {
  @Post('note')
  note(@Session() session: HttpSessionState) {
    session.set('noted', true);
    return {};
  }
}

@Controller('pages')
class PagesController {
  @Get('about')
  @SessionState(SessionStateBehavior.Disabled)
  about(@Session() session: HttpSessionState) {
    return { id: session.id };
  }
}

/** Disabled on the class, a handler declaring its own behavior: that one has its session. */
@Controller('mostly-public')
@SessionState(SessionStateBehavior.Disabled)
class MostlyPublicController {
  @Get('public')
  open() {
    return { open: true };
  }

  @Get('mine')
  @SessionState(SessionStateBehavior.ReadOnly)
  mine(@Session() session: HttpSessionState) {
    return { size: session.size };
  }
}

async function startupRefusal(controllers: Type[]): Promise<unknown> {
  try {
    const app = await createTestApp('express', { imports: [SessionStateModule.forRoot()], controllers });
    await app.close();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('@Session() on a handler declared Disabled', () => {
  it('is refused at startup, naming the handler, whether Disabled is on its class or on itself', async () => {
    const error = await startupRefusal([WebhooksController, PagesController]);
    expect(error).toBeInstanceOf(SessionStateError);
    expect(String(error)).toMatch(/@Session\(\) on a handler declared @SessionState\(SessionStateBehavior\.Disabled\)/);
    expect(String(error)).toMatch(/WebhooksController\.note, PagesController\.about/);
  });

  it("starts when the handler's own declaration overrides its class's Disabled", async () => {
    const app = await createTestApp('express', { imports: [SessionStateModule.forRoot()], controllers: [MostlyPublicController] });
    try {
      await request(app.getHttpServer()).get('/mostly-public/public').expect(200, { open: true });
      await request(app.getHttpServer()).get('/mostly-public/mine').expect(200, { size: 0 });
    } finally {
      await app.close();
    }
  });
});
