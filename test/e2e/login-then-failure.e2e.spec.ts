import { Controller, HttpCode, InternalServerErrorException, Module, Post, Req, UseGuards, type INestApplication } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import request from 'supertest';
import { InMemorySessionStateStore, SessionState, SessionStateBehavior, SessionStateModule } from '../../src/index.js';
import { sessionCookie, cartSession } from '../support/test-app.js';
import { ExpressSessionApiController } from './fixtures/express-session-api.controller.js';
import { LocalAuthGuard, LocalStrategy, SessionSerializer, configureExpressPassport } from './fixtures/passport-recipe.js';

/**
 * passport's login saved the regenerated session mid-request (req.session.save()),
 * then the handler failed (500). No lock may be left on either id (the old one, locked by the
 * request; the new one, inserted locked by the save), and no session stays unreachable-but-locked.
 */
@Controller()
class FailingAfterLoginController {
  @UseGuards(LocalAuthGuard)
  @SessionState(SessionStateBehavior.Required)
  @Post('login-then-fail')
  @HttpCode(200)
  loginThenFail(@Req() req: Request) {
    throw new InternalServerErrorException(`failed after login of ${String((req.user as { id: number }).id)}`);
  }
}

describe('a login saved mid-request, then the handler fails', () => {
  let app: INestApplication;
  const store = new InMemorySessionStateStore();
  const http = () => request(app.getHttpServer());
  beforeAll(async () => {
    @Module({
      imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } }), PassportModule.register({ session: true })],
      controllers: [FailingAfterLoginController, ExpressSessionApiController],
      providers: [LocalStrategy, SessionSerializer],
    })
    class M {}
    const moduleRef = await Test.createTestingModule({ imports: [M] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
  });
  afterAll(() => app.close());

  it('no lock is left on the old id nor the new one; what the 500 answer says about the cookie', async () => {
    const anon = await cartSession(app.getHttpServer());
    const oldId = anon.slice(anon.indexOf('=') + 1);
    const failed = await http().post('/login-then-fail').set('Cookie', anon).send({ username: 'john', password: 'changeme' });
    const newCookie = sessionCookie(failed.headers);
    const kinds: Record<string, string> = { old: (await store.getItem(oldId)).kind };
    if (newCookie) kinds.new = (await store.getItem(newCookie.slice(newCookie.indexOf('=') + 1))).kind;
    // As express-session: what passport's save() stored stays (the login, under the new id, its cookie sent; the old id removed).
    expect({ status: failed.status, kinds, newCookieSent: newCookie !== undefined }).toEqual({
      status: 500,
      kinds: { old: 'absent', new: 'loaded' },
      newCookieSent: true,
    });
    // No lock left behind, whatever was kept.
    expect(Object.values(kinds).filter((k) => k === 'locked')).toEqual([]);
    // The old cookie answers at once (no wait for a left lock): 409, the login moved its session (the
    // store's marker of the move; the client retries with the login's cookie), no cookie over the login's.
    const old = await http().post('/api/set').set('Cookie', anon).send({ more: 1 }).expect(409);
    expect(sessionCookie(old.headers)).toBeUndefined();
  });
});
