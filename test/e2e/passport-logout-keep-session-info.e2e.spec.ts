/**
 * A passport logout that keeps the session's data: passport's `logOut({ keepSessionInfo: true })`
 * `regenerate()`s the session, then puts its data back: the data moves to a new id, as at a login,
 * and so the old (signed-in) id keeps a moved marker for `MOVED_MARKER_MS`. That is what a user would
 * expect: a write sent with the old cookie (another tab) gets 409 and its retry lands in the session
 * that kept the data, instead of starting an empty one whose cookie would replace it (the kept cart
 * lost). The marker holds nothing: a read with the old id is signed out and sets no cookie. A logout
 * that keeps nothing leaves no marker (an empty session after it harms nobody).
 * @fastify/passport's `logOut()` has no `keepSessionInfo`; its `clearSessionOnLogin: false` copies
 * the data back from `session.data()`, which @fastify/session's Session does not have (nor does
 * `req.session` here): its logout keeps nothing, as on @fastify/session. Under `mountSessionState`.
 */
import { Controller, HttpCode, Post, Req } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import request from 'supertest';
import { InMemorySessionStateStore, SessionState, SessionStateBehavior } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { cartSession, sessionCookie, type AdapterName } from '../support/test-app.js';
import { configureFastifyPassport, createAuthenticator, fastifyPassportModule } from './fixtures/fastify-passport-app.js';
import { configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';
import { idOf } from './session-app.js';

@Controller()
class KeepingLogoutController {
  @SessionState(SessionStateBehavior.Required)
  @Post('logout-keep')
  @HttpCode(200)
  async logout(@Req() req: Request) {
    await new Promise<void>((resolve, reject) => req.logout({ keepSessionInfo: true }, (error) => (error ? reject(error) : resolve())));
    return { ok: true };
  }
}

/** The logouts under test: whether each keeps the data (moves it to a new id). */
const LOGOUTS: [string, AdapterName, boolean, string][] = [
  ["passport's logOut({ keepSessionInfo: true })", 'express', true, '/logout-keep'],
  ["passport's logOut()", 'express', false, '/logout'],
  ["@fastify/passport's logOut() with clearSessionOnLogin: false", 'fastify', false, '/logout'],
];

/** The passport app of the adapter on `store`; on Fastify, @fastify/passport with `clearSessionOnLogin: false`. */
async function passportApp(adapter: AdapterName, store: InMemorySessionStateStore): Promise<INestApplication> {
  if (adapter === 'express') {
    const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(store)], controllers: [KeepingLogoutController] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
    return app;
  }
  const passport = createAuthenticator({ clearSessionOnLogin: false });
  const moduleRef = await Test.createTestingModule({ imports: [fastifyPassportModule(store, passport)] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await configureFastifyPassport(app, passport);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

describe.each(LOGOUTS)('%s (%s, mount)', (_label, adapter, keep, logout) => {
  const store = new InMemorySessionStateStore();
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  beforeAll(async () => {
    app = await passportApp(adapter, store);
  });
  afterAll(() => app.close());

  /** Signed in as john, with a cart: the cookie. */
  async function signedInWithCart(): Promise<string> {
    const anon = await cartSession(app.getHttpServer());
    const login = await http().post('/login').set('Cookie', anon).send({ username: 'john', password: 'changeme' }).expect(200);
    const cookie = sessionCookie(login.headers)!;
    await http()
      .post('/api/set')
      .set('Cookie', cookie)
      .send({ cart: ['book'] })
      .expect(200);
    return cookie;
  }

  it(keep ? 'moves the data to a new id and leaves a marker under the old one' : 'removes the session and leaves no marker', async () => {
    const signedIn = await signedInWithCart();
    const out = await http().post(logout).set('Cookie', signedIn).expect(200, { ok: true });
    const after = sessionCookie(out.headers);
    expect(await store.getItem(idOf(signedIn))).toEqual(keep ? { kind: 'absent', moved: true } : { kind: 'absent' });
    if (keep) {
      // The data under a new id, signed out.
      expect(after).toBeDefined();
      expect(idOf(after!)).not.toBe(idOf(signedIn));
      expect((await http().get('/api/get').set('Cookie', after!).expect(200)).body.data).toMatchObject({ cart: ['book'] });
      await http().get('/me').set('Cookie', after!).expect(403);
    } else {
      expect(after).toBeUndefined(); // nothing stored (R9: an empty session is not announced)
    }
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });

  it(
    keep
      ? 'a write with the old cookie right after: 409, Retry-After, no cookie; its retry lands in the kept session'
      : 'a write with the old cookie right after: a new, empty session (as express-session)',
    async () => {
      const signedIn = await signedInWithCart();
      const after = sessionCookie((await http().post(logout).set('Cookie', signedIn).expect(200)).headers);
      const res = await http().post('/api/set').set('Cookie', signedIn).send({ note: 'late' });
      if (keep) {
        expect({ status: res.status, retryAfter: res.headers['retry-after'], setCookie: res.headers['set-cookie'] ?? null }).toEqual({
          status: 409,
          retryAfter: '1',
          setCookie: null,
        });
        await http().post('/api/set').set('Cookie', after!).send({ note: 'late' }).expect(200);
        expect((await http().get('/api/get').set('Cookie', after!).expect(200)).body.data).toMatchObject({ cart: ['book'], note: 'late' });
      } else {
        expect(res.status).toBe(200);
        const fresh = sessionCookie(res.headers)!;
        expect(idOf(fresh)).not.toBe(idOf(signedIn));
        expect((await http().get('/api/get').set('Cookie', fresh).expect(200)).body.data).not.toHaveProperty('cart');
      }
      expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    },
  );

  it('a read with the old cookie right after: signed out, no cookie', async () => {
    const signedIn = await signedInWithCart();
    await http().post(logout).set('Cookie', signedIn).expect(200);
    const res = await http().get('/me').set('Cookie', signedIn).expect(403);
    expect(res.headers['set-cookie']).toBeUndefined();
  });
});
