/**
 * Review R28: passport's req.login(user, cb) in a @Res() handler, the redirect sent from the callback,
 * with a serializer that answers asynchronously (a DB lookup: `done` called later). passport's
 * SessionManager.logIn runs regenerate(), then the serializer, then save(): between regenerate()'s
 * callback and save() no req.session call runs, so the handler's session is completed at its settle
 * (regenerate() makes no store call: its callback runs before Nest completes the handler's Observable),
 * and the login's save() is refused: 500 instead of a login.
 */
import { Controller, Get, Injectable, Module, Post, Req, Res, type INestApplication } from '@nestjs/common';
import { PassportModule, PassportSerializer } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import type { Request, Response } from 'express';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
  type RequestSession,
} from '../../src/index.js';
import { configureExpressPassport } from './fixtures/passport-recipe.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { sendStatus, type EitherResponse } from '../support/send-status.js';
import { idOf } from './session-app.js';

type User = { id: number; username: string };
const later = () => new Promise((r) => setTimeout(r, 5));

/** A serializer that looks the user up asynchronously (as one backed by a database does). */
@Injectable()
class AsyncSerializer extends PassportSerializer {
  serializeUser(user: User, done: (err: Error | null, id?: number) => void): void {
    void later().then(() => done(null, user.id));
  }
  deserializeUser(id: number, done: (err: Error | null, user?: User | false) => void): void {
    done(null, id === 1 ? { id: 1, username: 'john' } : false);
  }
}

@Controller('x')
class PassportController {
  @SessionState(SessionStateBehavior.Required)
  @Post('login')
  login(@Req() req: Request, @Res() res: Response) {
    req.login({ id: 1, username: 'john' } as Express.User, (err) => {
      if (err) return res.status(500).json({ error: (err as Error).message });
      res.redirect('/x/me');
    });
  }

  @Get('me')
  me(@Req() req: Request) {
    return { user: req.user ?? null };
  }
}

describe('passport req.login(user, cb) with an async serializer, redirect from the callback (express)', () => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  beforeAll(async () => {
    store = new InMemorySessionStateStore();
    @Module({
      imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } }), PassportModule.register({ session: true })],
      controllers: [PassportController],
      providers: [AsyncSerializer],
    })
    class M {}
    app = (await Test.createTestingModule({ imports: [M] }).compile()).createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
  });
  afterAll(() => app.close());

  it('302 with the new cookie; the next request is signed in (as with express-session)', async () => {
    const login = await request(app.getHttpServer()).post('/x/login').timeout(3000);
    expect(login.status).toBe(302);
    const cookie = sessionCookie(login.headers)!;
    expect(cookie).toBeDefined();
    const me = await request(app.getHttpServer()).get('/x/me').set('Cookie', cookie).timeout(3000);
    expect(me.body).toEqual({ user: { id: 1, username: 'john' } });
    expect((await store.getItem(idOf(cookie))).kind).toBe('loaded');
  });
});

type Sess = RequestSession & { set(k: string, v: unknown): void; get(k: string): unknown };

@Controller('y')
class ChainController {
  /** regenerate(), an async lookup, then save() and the redirect, all from callbacks (passport's shape, any adapter). */
  @SessionState(SessionStateBehavior.Required)
  @Post('login')
  login(@Req() req: { session: Sess }, @Res() res: EitherResponse) {
    const answer = (n: number, b: string) => sendStatus(res, n, b);
    void req.session.regenerate((err) => {
      if (err) return answer(500, (err as Error).message);
      void later().then(() => {
        req.session.set('user', 'john');
        void req.session.save((e) => (e ? answer(500, (e as Error).message) : answer(200, 'signed in')));
      });
    });
  }

  /** regenerate(cb), an async lookup, set the user, redirect (no explicit save: express-session saves at the answer's end). */
  @SessionState(SessionStateBehavior.Required)
  @Post('login-nosave')
  loginNoSave(@Req() req: { session: Sess }, @Res() res: EitherResponse) {
    const answer = (n: number, b: string) => sendStatus(res, n, b);
    void req.session.regenerate((err) => {
      if (err) return answer(500, (err as Error).message);
      void later().then(() => {
        req.session.set('user', 'john');
        answer(200, 'signed in');
      });
    });
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('me')
  me(@Req() req: { session: Sess }) {
    return { user: req.session.get('user') ?? null };
  }
}

describe.each(ADAPTERS)('regenerate(cb) → async step → save(cb) → answer, in a @Res() handler (%s)', (adapter) => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await createTestApp(
      adapter,
      { imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), cookie: { name: 'sid' } })], controllers: [ChainController] },
      (a) => mountSessionState(a),
    );
  });
  afterAll(() => app.close());

  it('200 with the new cookie; the next request sees the user', async () => {
    const login = await request(app.getHttpServer()).post('/y/login').timeout(3000);
    expect(login.text).toBe('signed in');
    expect(login.status).toBe(200);
    const cookie = sessionCookie(login.headers)!;
    const me = await request(app.getHttpServer()).get('/y/me').set('Cookie', cookie).timeout(3000);
    expect(me.body).toEqual({ user: 'john' });
  });

  it('without an explicit save(): a success answer only if the user it set is saved (never a 2xx for changes not saved)', async () => {
    const login = await request(app.getHttpServer()).post('/y/login-nosave').timeout(3000);
    if (login.status >= 400) return; // refused: acceptable
    const cookie = sessionCookie(login.headers);
    expect(cookie, `a ${login.status} "${login.text}" whose user was not saved`).toBeDefined();
    const me = await request(app.getHttpServer()).get('/y/me').set('Cookie', cookie!).timeout(3000);
    expect(me.body).toEqual({ user: 'john' });
  });
});
