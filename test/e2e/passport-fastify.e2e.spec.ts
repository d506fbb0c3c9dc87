import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { sessionCookie } from '../support/test-app.js';
import { configureFastifyPassport, createAuthenticator, fastifyPassportModule } from './fixtures/fastify-passport-app.js';
import { USERS } from './fixtures/passport-recipe.js';

const idOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1);

describe('NestJS on Fastify with @fastify/passport, sessions through mountSessionState(app)', () => {
  let app: NestFastifyApplication;
  let counter: StoreCallCounter;
  let store: InMemorySessionStateStore;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    const counted = countingStore(new InMemorySessionStateStore());
    store = counted.store;
    counter = counted.counter;
    const passport = createAuthenticator();
    const moduleRef = await Test.createTestingModule({ imports: [fastifyPassportModule(store, passport)] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await configureFastifyPassport(app, passport);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());

  const login = async (cookie?: string, username = 'john', password = 'changeme') => {
    const req = http().post('/login').send({ username, password });
    const res = await (cookie ? req.set('Cookie', cookie) : req);
    return { res, cookie: sessionCookie(res.headers) };
  };
  const stored = async (cookie: string) => (await store.getItem(idOf(cookie))).kind;

  it('starts (the session decorator @fastify/flash requires is there); login signs in: 403 before, 200 after; owner = passport user', async () => {
    await http().get('/me').expect(403);
    const { res, cookie } = await login();
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ user: { id: 1, username: 'john' }, sessionId: idOf(cookie!) });
    await http()
      .get('/me')
      .set('Cookie', cookie!)
      .expect(200, { user: { id: 1, username: 'john' } });
    expect(await store.revokeOwner('1')).toBe(1);
    await http().get('/me').set('Cookie', cookie!).expect(403);
  });

  it("Nest's own @Session() (from @nestjs/common) gets request.session", async () => {
    await http().get('/nest-session').expect(200, { passport: null });
    const { cookie } = await login();
    await http().get('/nest-session').set('Cookie', cookie!).expect(200, { passport: 1 });
  });

  it('login regenerates the id (fixation); logout ends the session', async () => {
    const failed = await http().post('/login-redirect').send({ username: 'john', password: 'bad' }).expect(302);
    const before = sessionCookie(failed.headers)!;
    expect(await stored(before)).toBe('loaded');
    const { cookie } = await login(before);
    expect(cookie).not.toBe(before);
    expect(await stored(before)).toBe('absent');
    await http().get('/me').set('Cookie', cookie!).expect(200);
    await http().post('/logout').set('Cookie', cookie!).expect(200, { ok: true });
    expect(await stored(cookie!)).toBe('absent');
    await http().get('/me').set('Cookie', cookie!).expect(403);
  });

  it("successRedirect and failureRedirect with failureMessage and failureFlash: passport's own answers wait for the session", async () => {
    const ok = await http().post('/login-redirect').send({ username: 'maria', password: 'guess' }).expect(302);
    expect(ok.headers.location).toBe('/me');
    await http()
      .get('/me')
      .set('Cookie', sessionCookie(ok.headers)!)
      .expect(200, { user: { id: 2, username: 'maria' } });
    const bad = await http().post('/login-redirect').send({ username: 'maria', password: 'nope' }).expect(302);
    expect(bad.headers.location).toBe('/login-page');
    const cookie = sessionCookie(bad.headers)!;
    await http()
      .get('/login-page')
      .set('Cookie', cookie)
      .expect(200, { messages: ['Bad login'] });
    await http()
      .get('/flash')
      .set('Cookie', cookie)
      .expect(200, { error: ['Bad login'] });
    await http().get('/flash').set('Cookie', cookie).expect(200, { error: [] });
  });

  it('a user @fastify/passport can no longer find: signed out, not a 500', async () => {
    const { cookie } = await login(undefined, 'maria', 'guess');
    const maria = USERS.splice(1, 1);
    try {
      // @fastify/passport logs the user out (set + regenerate) before the route is known: in memory only.
      await http().get('/me').set('Cookie', cookie!).expect(403);
      // A route that writes, refused by its guard: 403, nothing saved, no new cookie.
      const res = await http().post('/count').set('Cookie', cookie!).expect(403);
      expect(sessionCookie(res.headers)).toBeUndefined();
    } finally {
      USERS.splice(1, 0, ...maria);
    }
  });

  it('a failed login without a redirect: 401 from passport, nothing stored', async () => {
    const res = await http().post('/login').send({ username: 'john', password: 'bad' }).expect(401);
    expect(sessionCookie(res.headers)).toBeUndefined();
  });

  it('50 concurrent writing requests of a logged-in user: exactly 50, both APIs on one session', async () => {
    const { cookie } = await login();
    const answers = await Promise.all(Array.from({ length: 50 }, () => http().post('/count').set('Cookie', cookie!)));
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    expect(answers.every((a) => (a.body as { sameObject: boolean }).sameObject)).toBe(true);
    expect(answers.map((a) => (a.body as { count: number }).count).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('store calls per request: no cookie 0; a cookie on a route without the session 1; on a route that writes 3', async () => {
    const { cookie } = await login();
    counter.reset();
    await http().get('/ping').expect(200);
    expect(counter.sequence).toEqual([]);
    await http().get('/ping').set('Cookie', cookie!).expect(200);
    expect(counter.sequence).toEqual(['getItem']);
    counter.reset();
    await http().post('/count').set('Cookie', cookie!).expect(200);
    expect(counter.sequence).toEqual(['getItem', 'getItemExclusive', 'setAndReleaseItemExclusive']);
  });

  it('session.set() on a route that holds no lock throws at once, naming the decorator to add', async () => {
    const res = await http().post('/write-read-only').expect(200);
    expect(res.body.name).toBe('SessionStateReadOnlyError');
    expect(res.body.error).toContain('@SessionState(SessionStateBehavior.Required)');
  });

  describe("@fastify/session's Session API through the mount (cases of fastify/session's tests)", () => {
    const start = async (data: object) => sessionCookie((await http().post('/api/set').send(data).expect(200)).headers)!;

    it('set() and get(); sessionId is the id; the keys are enumerable', async () => {
      const cookie = await start({ a: 1, b: { c: 'd' } });
      await http()
        .get('/api/get')
        .set('Cookie', cookie)
        .expect(200, { sessionId: idOf(cookie), data: { a: 1, b: { c: 'd' } } });
    });

    it('regenerate(keepKeys) moves to a new id and keeps only the listed keys', async () => {
      const cookie = await start({ keep: 'me', drop: 'me' });
      const res = await http().post('/api/regenerate').set('Cookie', cookie).expect(200);
      expect(res.body.before).toBe(idOf(cookie));
      expect(res.body.after).not.toBe(res.body.before);
      expect(res.body.data).toEqual({ keep: 'me' });
      const moved = sessionCookie(res.headers)!;
      expect(idOf(moved)).toBe(res.body.after);
      expect(await stored(cookie)).toBe('absent');
      await http()
        .get('/api/get')
        .set('Cookie', moved)
        .expect(200, { sessionId: res.body.after, data: { keep: 'me' } });
    });

    it('destroy(): request.session is null, the session removed and its cookie cleared', async () => {
      const cookie = await start({ a: 1 });
      const res = await http().post('/api/destroy').set('Cookie', cookie).expect(200, { session: null });
      expect(sessionCookie(res.headers)).toBe('sid=');
      expect(await stored(cookie)).toBe('absent');
    });

    it('delete(key) and set(key, undefined) remove keys', async () => {
      const cookie = await start({ a: 1, b: 2, c: 3 });
      await http()
        .post('/api/delete')
        .set('Cookie', cookie)
        .expect(200, { data: { c: 3 } });
      await http()
        .get('/api/get')
        .set('Cookie', cookie)
        .expect(200, { sessionId: idOf(cookie), data: { c: 3 } });
    });

    it('save() writes at once (awaitable); reload() drops what was not saved', async () => {
      const cookie = await start({ a: 1 });
      await http()
        .post('/api/save-reload')
        .set('Cookie', cookie)
        .expect(200, { data: { a: 1, saved: true } });
      await http()
        .get('/api/get')
        .set('Cookie', cookie)
        .expect(200, { sessionId: idOf(cookie), data: { a: 1, saved: true } });
    });
  });
});
