/**
 * As login-move-stale.e2e.spec.ts, through the mid-request save (`regenerateId()` then
 * `req.session.save()`, the save passport's login makes): a move saved after the request's lock was
 * broken as stale is undone and fenced out (409); the write acknowledged meanwhile stands.
 */
import { Controller, HttpCode, Module, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import request from 'supertest';
import {
  HttpSessionState,
  InMemorySessionStateStore,
  mountSessionState,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  type RequestSession,
} from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { createTestApp, sessionCookie, ADAPTERS } from '../support/test-app.js';

const sessionOf = (req: Request) => req.session as unknown as RequestSession;

@Controller('m')
@SessionState(SessionStateBehavior.Required)
class MountedController {
  constructor(private readonly gates: Gates) {}

  @Post('inc')
  @HttpCode(200)
  inc(@Req() req: Request) {
    const session = sessionOf(req);
    session.n = ((session.n as number | undefined) ?? 0) + 1;
    return { n: session.n };
  }

  @Post('login')
  @HttpCode(200)
  async login(@Req() req: Request, @Session() s: HttpSessionState) {
    await this.gates.pass('stuck');
    // regenerateId() keeps the data (express-session's regenerate() would empty it), then the mid-request save.
    s.regenerateId();
    s.set('user', 'ann');
    await sessionOf(req).save();
    return { user: 'ann' };
  }

  @Post('n')
  @HttpCode(200)
  @SessionState(SessionStateBehavior.ReadOnly)
  n(@Req() req: Request) {
    return { n: (sessionOf(req).n as number | undefined) ?? 0 };
  }
}

describe.each(ADAPTERS)('stale login saved mid-request over %s', (adapter) => {
  it('a login saved mid-request after its lock was broken as stale is fenced out (409); the increment acknowledged meanwhile is not lost', async () => {
    const gates = new Gates();
    const store = new InMemorySessionStateStore();
    @Module({
      imports: [SessionStateModule.forRoot({ store, executionTimeout: 0.2 })],
      controllers: [MountedController],
      providers: [{ provide: Gates, useValue: gates }],
    })
    class M {}
    const app = await createTestApp(adapter, { imports: [M] }, (a) => mountSessionState(a));
    try {
      const http = app.getHttpServer();
      const cookie = sessionCookie((await request(http).post('/m/inc').expect(200)).headers)!;
      const login = request(http)
        .post('/m/login')
        .set('Cookie', cookie)
        .then((r) => r);
      await gates.arrived('stuck');
      await request(http).post('/m/inc').set('Cookie', cookie).expect(200, { n: 2 });
      gates.open('stuck');
      const answer = await login;
      const after = await request(http)
        .post('/m/n')
        .set('Cookie', sessionCookie(answer.headers) ?? cookie);
      expect({ login: answer.status, n: after.body.n }).toEqual({ login: 409, n: 2 });
      expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    } finally {
      gates.openAll();
      await app.close();
    }
  });
});
