/**
 * A logout without a session (passport's `logOut()` of an anonymous visitor: express's `save()` then
 * `regenerate()`, @fastify/passport's `regenerate()`) stores nothing and sends no cookie, as
 * express-session and @fastify/session with `saveUninitialized: false` (MIGRATING.md): a new, empty
 * session without owner is never stored nor announced, by `save()` or by the end of the request. And a
 * cookie a mid-request `save()` sent for a record the end of the request removes is cleared.
 * Found by review R9: ours stored an empty record at `save()` and sent its cookie, then removed the
 * record (Express: a cookie naming nothing, two writes); on Fastify the empty session was moved and stored.
 */
import { Controller, HttpCode, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { InMemorySessionStateStore, SessionState, SessionStateBehavior, type RequestSession } from '../../src/index.js';
import { configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';
import { configureFastifyPassport, createAuthenticator, fastifyPassportModule } from './fixtures/fastify-passport-app.js';
import { countingStore } from '../support/counting-store.js';
import { createTestApp, sessionCookie, sessionSetCookie } from '../support/test-app.js';

const run = (fn: (cb: (error?: unknown) => void) => void) => new Promise<void>((resolve, reject) => fn((e) => (e ? reject(e) : resolve())));

@Controller('anon')
@SessionState(SessionStateBehavior.Required)
class SaveThenRegenerateController {
  /** A new session saved mid-request (its cookie sent), then regenerated to nothing before the answer. */
  @Post('save-then-regenerate')
  @HttpCode(200)
  async saveThenRegenerate(@Req() req: Request) {
    (req.session as unknown as RequestSession).note = 'x';
    await run((cb) => (req.session as unknown as RequestSession).save(cb));
    await run((cb) => (req.session as unknown as RequestSession).regenerate(cb));
    return 'ok';
  }
}

describe('anonymous logout (Express, passport recipe)', () => {
  let app: INestApplication;
  const { store, counter } = countingStore(new InMemorySessionStateStore());
  beforeAll(async () => {
    app = await createTestApp('express', { imports: [passportRecipeModule(store)], controllers: [SaveThenRegenerateController] }, (a) =>
      configureExpressPassport(a),
    );
  });
  afterAll(async () => {
    await app?.close();
  });
  const http = () => request(app.getHttpServer());

  // expressjs/session: saveUninitialized false: an anonymous request whose session ends unmodified gets no Set-Cookie.
  it('logout without a session: no Set-Cookie, no store writes', async () => {
    counter.reset();
    const answer = await http().post('/logout').expect(200);
    expect(sessionCookie(answer.headers)).toBeUndefined();
    expect(counter.total()).toBe(0);
  });

  it('a cookie save() sent for a session the end of the request removes is cleared, not left naming nothing', async () => {
    counter.reset();
    const answer = await http().post('/anon/save-then-regenerate').expect(200);
    const line = sessionSetCookie(answer.headers);
    expect(line).toMatch(/^sid=;.*Expires=Thu, 01 Jan 1970/);
    expect(counter.calls.removeItem).toBe(1); // the record save() stored is gone
  });
});

describe('anonymous logout (Fastify, @fastify/passport)', () => {
  let app: NestFastifyApplication;
  const { store, counter } = countingStore(new InMemorySessionStateStore());
  beforeAll(async () => {
    const passport = createAuthenticator();
    const moduleRef = await Test.createTestingModule({ imports: [fastifyPassportModule(store, passport)] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await configureFastifyPassport(app, passport);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(async () => {
    await app?.close();
  });

  // fastify/session base.test.js "should not set session cookie if no data in session and saveUninitialized is false".
  it('logout without a session: no Set-Cookie, no store writes', async () => {
    counter.reset();
    const answer = await request(app.getHttpServer()).post('/logout').expect(200);
    expect(counter.calls).toEqual({});
    expect(sessionCookie(answer.headers)).toBeUndefined();
  });
});
