import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { sessionCookie } from '../support/test-app.js';
import { USERS, configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';

const idOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1);

describe("NestJS's passport session recipe on Express, with mountSessionState(app) in place of express-session", () => {
  let app: INestApplication;
  let counter: StoreCallCounter;
  let store: InMemorySessionStateStore;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    const counted = countingStore(new InMemorySessionStateStore());
    store = counted.store;
    counter = counted.counter;
    const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(store)] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
  });
  afterAll(() => app.close());

  const login = async (cookie?: string, username = 'john', password = 'changeme') => {
    const req = http().post('/login').send({ username, password });
    const res = await (cookie ? req.set('Cookie', cookie) : req);
    return { res, cookie: sessionCookie(res.headers) };
  };
  const stored = async (cookie: string) => (await store.getItem(idOf(cookie))).kind;

  it('login signs in; the protected route answers 403 before, 200 after; passport.user is the session owner', async () => {
    await http().get('/me').expect(403);
    const { res, cookie } = await login();
    expect(res.status).toBe(200);
    expect(res.body.user).toEqual({ id: 1, username: 'john' });
    await http()
      .get('/me')
      .set('Cookie', cookie!)
      .expect(200, { user: { id: 1, username: 'john' } });
    // Sign out everywhere covers passport logins: the owner is passport's user id.
    const second = (await login()).cookie!;
    expect(await store.revokeOwner('1')).toBe(2);
    await http().get('/me').set('Cookie', cookie!).expect(403);
    await http().get('/me').set('Cookie', second).expect(403);
  });

  it('login regenerates the id (session fixation): the id the client came with is gone, its data not carried over', async () => {
    // An anonymous session with data (a failed login's message).
    const failed = await http().post('/login-redirect').send({ username: 'john', password: 'wrong' }).expect(302);
    const before = sessionCookie(failed.headers)!;
    expect(await stored(before)).toBe('loaded');
    const { res, cookie } = await login(before);
    expect(res.body.sessionId).toBe(idOf(cookie!));
    expect(cookie).not.toBe(before);
    expect(await stored(before)).toBe('absent');
    await http().get('/login-page').set('Cookie', cookie!).expect(200, { messages: [] });
    // The old cookie names nothing any more: not signed in.
    await http().get('/me').set('Cookie', before).expect(403);
  });

  it('a user passport can no longer find: signed out (not a 500); the removal is saved by the next route that writes', async () => {
    const { cookie } = await login(undefined, 'maria', 'guess');
    const maria = USERS.splice(1, 1);
    try {
      // passport's session strategy deletes passport.user before the route is known: kept in memory only.
      await http().get('/me').set('Cookie', cookie!).expect(403);
      await http().get('/ping').set('Cookie', cookie!).expect(200);
      // A route that writes carries the change over to its locked session, and saves it.
      await http().post('/api/set').set('Cookie', cookie!).send({ a: 1 }).expect(200);
    } finally {
      USERS.splice(1, 0, ...maria);
    }
    await http().get('/me').set('Cookie', cookie!).expect(403);
    await http()
      .get('/api/get')
      .set('Cookie', cookie!)
      .expect(200, { id: idOf(cookie!), data: { passport: {}, a: 1 }, json: { passport: {}, a: 1 }, keys: ['passport', 'a'] });
  });

  it("passport's keepSessionInfo carries the anonymous session's data over to the new id", async () => {
    const cart = sessionCookie(
      (
        await http()
          .post('/api/set')
          .send({ cart: ['sku-1'] })
          .expect(200)
      ).headers,
    )!;
    const res = await http().post('/login-keep').set('Cookie', cart).send({ username: 'john', password: 'changeme' }).expect(200);
    expect(res.body.data).toEqual({ cart: ['sku-1'], passport: { user: 1 } });
    const cookie = sessionCookie(res.headers)!;
    expect(cookie).not.toBe(cart);
    expect(await stored(cart)).toBe('absent');
    await http()
      .get('/api/get')
      .set('Cookie', cookie)
      .expect(200)
      .expect((r) => expect(r.body.data).toEqual({ cart: ['sku-1'], passport: { user: 1 } }));
  });

  it('logout ends the session: the old id is removed and the next request is signed out', async () => {
    const { cookie } = await login();
    const out = await http().post('/logout').set('Cookie', cookie!).expect(200, { ok: true });
    expect(sessionCookie(out.headers)).toBeUndefined(); // nothing new stored in its place
    expect(await stored(cookie!)).toBe('absent');
    await http().get('/me').set('Cookie', cookie!).expect(403);
  });

  it("successRedirect: passport's own redirect leaves the guard with the new cookie, the session saved before it goes out", async () => {
    const res = await http().post('/login-redirect').send({ username: 'maria', password: 'guess' }).expect(302);
    expect(res.headers.location).toBe('/me');
    const cookie = sessionCookie(res.headers)!;
    expect(await stored(cookie)).toBe('loaded'); // saved and released before the redirect was answered
    await http()
      .get('/me')
      .set('Cookie', cookie)
      .expect(200, { user: { id: 2, username: 'maria' } });
  });

  it('failureRedirect with failureMessage and failureFlash: the messages are stored before the redirect; connect-flash consumes them', async () => {
    const res = await http().post('/login-redirect').send({ username: 'maria', password: 'nope' }).expect(302);
    expect(res.headers.location).toBe('/login-page');
    const cookie = sessionCookie(res.headers)!;
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

  it("a handler answering itself with @Res() after passport's login: its redirect carries the new cookie", async () => {
    const res = await http().post('/login-res').send({ username: 'john', password: 'changeme' }).expect(302);
    const cookie = sessionCookie(res.headers)!;
    await http().get('/me').set('Cookie', cookie).expect(200);
  });

  it('req.session and @Session() are one session: each sees the writes of the other', async () => {
    const { cookie } = await login();
    await http().post('/count').set('Cookie', cookie!).expect(200, { count: 1, touched: 1 });
    await http().post('/count').set('Cookie', cookie!).expect(200, { count: 2, touched: 2 });
  });

  it("Nest's own @Session() (from @nestjs/common) gets req.session", async () => {
    await http().get('/nest-session').expect(200, { keys: [], user: null });
    const { cookie } = await login();
    await http()
      .get('/nest-session')
      .set('Cookie', cookie!)
      .expect(200, { keys: ['passport'], user: 1 });
  });

  it('50 concurrent writing requests of a logged-in user: exactly 50', async () => {
    const { cookie } = await login();
    const answers = await Promise.all(Array.from({ length: 50 }, () => http().post('/count').set('Cookie', cookie!)));
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    expect(answers.map((a) => (a.body as { count: number }).count).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await http()
      .get('/api/get')
      .set('Cookie', cookie!)
      .expect(200)
      .expect((r) => expect(r.body.data.count).toBe(50));
  });

  it('store calls per request: no cookie 0; a cookie on a route without the session 1 (a read); on a route that writes 3', async () => {
    const { cookie } = await login();
    counter.reset();
    await http().get('/ping').expect(200);
    await http().get('/me').expect(403);
    expect(counter.sequence).toEqual([]);
    await http().get('/ping').set('Cookie', cookie!).expect(200);
    expect(counter.sequence).toEqual(['getItem']);
    counter.reset();
    await http().get('/me').set('Cookie', cookie!).expect(200);
    expect(counter.sequence).toEqual(['getItem']);
    counter.reset();
    await http().get('/api/get').set('Cookie', cookie!).expect(200); // read-only route: the mount's read serves it
    expect(counter.sequence).toEqual(['getItem']);
    counter.reset();
    await http().post('/count').set('Cookie', cookie!).expect(200);
    expect(counter.sequence).toEqual(['getItem', 'getItemExclusive', 'setAndReleaseItemExclusive']);
    counter.reset();
    await login(); // no cookie: a new session, saved once by passport's save() (kept locked), released at the end
    expect(counter.sequence).toEqual(['setItemExclusive', 'releaseItemExclusive']);
    counter.reset();
    const again = (await login(cookie)).cookie!; // with a cookie: the session moves to a new id at save()
    expect(counter.sequence).toEqual(['getItem', 'getItemExclusive', 'setItemExclusive', 'removeItem', 'releaseItemExclusive']);
    counter.reset();
    await http().post('/logout').set('Cookie', again).expect(200);
    expect(counter.sequence).toEqual(['getItem', 'getItemExclusive', 'setItemExclusive', 'removeItem']);
  });

  it('a write through req.session on a route that holds no lock throws at once, naming the decorator to add', async () => {
    const { cookie } = await login();
    const res = await http().post('/api/write-read-only').set('Cookie', cookie!).expect(200);
    expect(res.body.name).toBe('SessionStateReadOnlyError');
    expect(res.body.error).toContain('@SessionState(SessionStateBehavior.Required)');
    // A session-less route: the same error, and a 500 (a programming error), nothing saved.
    await http().post('/write-without-lock').set('Cookie', cookie!).expect(500);
    await http()
      .get('/api/get')
      .set('Cookie', cookie!)
      .expect(200)
      .expect((r) => expect(r.body.data.x).toBeUndefined());
  });
});

describe("express-session's Session API through the mount (cases of expressjs/session's tests)", () => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    store = new InMemorySessionStateStore();
    const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(store)] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
  });
  afterAll(() => app.close());

  const start = async (data: object = { a: 1 }) => sessionCookie((await http().post('/api/set').send(data).expect(200)).headers)!;

  it('data are enumerable own properties; JSON and Object.keys see the keys only', async () => {
    const cookie = await start({ a: 1, b: { c: [1, 2] } });
    const res = await http().get('/api/get').set('Cookie', cookie).expect(200);
    expect(res.body.id).toBe(idOf(cookie));
    expect(res.body.data).toEqual({ a: 1, b: { c: [1, 2] } });
    expect(res.body.json).toEqual({ a: 1, b: { c: [1, 2] } });
    expect(res.body.keys).toEqual(['a', 'b']);
  });

  it('.regenerate() should destroy/replace the previous session', async () => {
    const cookie = await start({ a: 1 });
    const res = await http().post('/api/regenerate').set('Cookie', cookie).expect(200);
    expect(res.body.oldId).toBe(idOf(cookie));
    expect(res.body.newId).not.toBe(res.body.oldId);
    expect(res.body.replaced).toBe(true);
    expect(res.body.oldData).toEqual({ a: 1 }); // the replaced object still shows what it held
    expect(res.body.newData).toEqual({});
    expect((await store.getItem(idOf(cookie))).kind).toBe('absent');
  });

  it('.reload() should reload session from store (changes not saved are dropped)', async () => {
    const cookie = await start({ count: 1 });
    await http().post('/api/reload').set('Cookie', cookie).expect(200, { count: 1 });
    await http()
      .get('/api/get')
      .set('Cookie', cookie)
      .expect(200)
      .expect((r) => expect(r.body.data.count).toBe(1));
  });

  it('.save() should save session to store, before the answer; later changes are saved at the end', async () => {
    const cookie = await start({ a: 1 });
    await http().post('/api/save').set('Cookie', cookie).expect(200);
    const read = await store.getItem(idOf(cookie));
    expect(read.kind === 'loaded' && JSON.parse(read.item.items)).toEqual({ a: 1, saved: 'yes', after: 'also saved at the end' });
  });

  it('.destroy() should destroy the previous session; req.session is undefined after it', async () => {
    const cookie = await start({ a: 1 });
    const res = await http().post('/api/destroy').set('Cookie', cookie).expect(200, { session: 'undefined' });
    expect(sessionCookie(res.headers)).toBe('sid='); // cleared
    expect((await store.getItem(idOf(cookie))).kind).toBe('absent');
  });

  it('.touch() answers the session; .cookie.maxAge sets a persistent cookie', async () => {
    const cookie = await start({ a: 1 });
    await http().post('/api/touch').set('Cookie', cookie).expect(200, { same: true, maxAge: null });
    const res = await http().post('/api/cookie-max-age').set('Cookie', cookie).expect(200, { maxAge: 60_000 });
    expect(String(res.headers['set-cookie'])).toMatch(/Max-Age=60/);
  });
});
