/**
 * End-to-end tests of the sample app's HTTP contract (SPEC §3) on Express and on Fastify.
 * The session store is an `InMemorySessionStateStore` behind a counting Proxy, provided under the
 * `SessionStateStore` token, so each request's store round trips can be asserted.
 */
import { randomBytes } from 'node:crypto';
import { SessionStateStore } from 'nestjs-session-state';
import request from 'supertest';
import { cookieHeader, setCookies, sidCookie, sidOf } from './support/cookies.js';
import { startSampleApp, type AdapterName, type SampleApp } from './support/sample-app.js';
import { flat } from '../../src/testing/flat-store-answer.js';

/** 24 CSPRNG bytes, base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{32}$/;
/** A request that should be served at once; if a session lock were left held it would hang instead. */
const NOT_BLOCKED = { response: 5_000, deadline: 5_000 };

describe.each<AdapterName>(['express', 'fastify'])('sample app HTTP contract on %s', (adapter) => {
  let sample: SampleApp;

  beforeAll(async () => {
    sample = await startSampleApp(adapter);
  });
  afterAll(async () => {
    await sample?.close();
  });

  /** A client without cookies. */
  const anon = () => request(sample.server);
  /** Requests carrying `Cookie: sid=<sid>` (or any raw Cookie header). */
  const as = (cookie: string) => ({
    get: (path: string) => request(sample.server).get(path).set('Cookie', cookie),
    post: (path: string) => request(sample.server).post(path).set('Cookie', cookie),
    delete: (path: string) => request(sample.server).delete(path).set('Cookie', cookie),
    put: (path: string) => request(sample.server).put(path).set('Cookie', cookie),
  });
  const withSid = (sid: string) => as(cookieHeader(sid));
  const calls = () => sample.counting.calls;

  /** A stored session whose count is 1; answers its id. */
  async function newCounterSession(): Promise<string> {
    const res = await anon().post('/counter').expect(200);
    expect(res.body).toEqual({ count: 1 });
    return sidOf(res);
  }
  async function countOf(sid: string): Promise<number> {
    const res = await withSid(sid).get('/counter').expect(200);
    return (res.body as { count: number }).count;
  }
  /** A stored session whose cart holds `[{ sku: 'a', qty: 2 }]`; answers its id. */
  async function newCartSession(): Promise<string> {
    const res = await anon().post('/cart/items').send({ sku: 'a', qty: 2 }).expect(201);
    expect(res.body).toEqual({ items: [{ sku: 'a', qty: 2 }] });
    return sidOf(res);
  }

  it('provides the counting store under the SessionStateStore token (the override the counts rely on)', () => {
    expect(sample.app.get(SessionStateStore)).toBe(sample.counting.store);
  });

  describe('GET /health (terminus)', () => {
    it('answers 200 with the session store up, without a session or a store round trip', async () => {
      sample.counting.reset();
      const res = await anon().get('/health').expect(200);
      expect(res.body).toMatchObject({ status: 'ok', info: { session_store: { status: 'up' } } });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(calls()).toEqual([]);
    });
  });

  describe('GET /ping (no session)', () => {
    it('answers pong with no Set-Cookie and no store call', async () => {
      sample.counting.reset();
      const res = await anon().get('/ping').expect(200);
      expect(res.text).toBe('pong');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(calls()).toEqual([]);
    });

    it('makes no store call even when the request carries a session cookie', async () => {
      const sid = await newCounterSession();
      sample.counting.reset();
      const res = await withSid(sid).get('/ping').expect(200);
      expect(res.text).toBe('pong');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(calls()).toEqual([]);
    });
  });

  describe('counter', () => {
    it('GET /counter on a fresh client answers {count: 0}, sets no cookie and stores nothing', async () => {
      sample.counting.reset();
      const res = await anon().get('/counter').expect(200);
      expect(res.body).toEqual({ count: 0 });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(calls()).toEqual([]);
    });

    it('POST /counter creates the session with an HttpOnly, SameSite=Lax, Path=/ cookie (no Secure on http) and counts up', async () => {
      const agent = request.agent(sample.server);
      const first = await agent.post('/counter').expect(200);
      expect(first.body).toEqual({ count: 1 });
      const cookie = sidCookie(first);
      expect(cookie).toBeDefined();
      expect(cookie!.value).toMatch(SESSION_ID);
      // Exactly these attributes: no Secure on plain http, no Expires/Max-Age (a browser-session cookie).
      expect(Object.fromEntries(cookie!.attributes)).toEqual({ path: '/', httponly: true, samesite: 'Lax' });
      expect(setCookies(first)).toHaveLength(1);

      const second = await agent.post('/counter').expect(200);
      expect(second.body).toEqual({ count: 2 });
      expect(second.headers['set-cookie']).toBeUndefined(); // the existing session keeps its id

      const read = await agent.get('/counter').expect(200);
      expect(read.body).toEqual({ count: 2 });
      expect(read.headers['set-cookie']).toBeUndefined();
      expect(await countOf(cookie!.value)).toBe(2);
    });

    it.each(['abc', '-1', '10001', '1.5'])('POST /counter?delayMs=%s is a 400 and leaves the count unchanged', async (delayMs) => {
      const sid = await newCounterSession();
      const res = await withSid(sid).post(`/counter?delayMs=${delayMs}`).expect(400);
      expect(res.body).toMatchObject({ statusCode: 400 });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(await countOf(sid)).toBe(1);
      // The 400 released the lock: the next increment is served at once.
      const next = await withSid(sid).post('/counter').timeout(NOT_BLOCKED).expect(200);
      expect(next.body).toEqual({ count: 2 });
    });

    it('POST /counter?delayMs=20 waits and increments', async () => {
      const sid = await newCounterSession();
      const res = await withSid(sid).post('/counter?delayMs=20').expect(200);
      expect(res.body).toEqual({ count: 2 });
      expect(await countOf(sid)).toBe(2);
    });

    it('POST /counter?fail=1 is a 500 whose write is discarded, and the next POST is not blocked', async () => {
      const sid = await newCounterSession();
      await withSid(sid).post('/counter').expect(200); // count 2
      const failed = await withSid(sid).post('/counter?fail=1').timeout(NOT_BLOCKED).expect(500);
      expect(failed.body).toMatchObject({ statusCode: 500 });
      expect(failed.headers['set-cookie']).toBeUndefined();
      expect(await countOf(sid)).toBe(2);
      const next = await withSid(sid).post('/counter').timeout(NOT_BLOCKED).expect(200);
      expect(next.body).toEqual({ count: 3 });
      expect(await countOf(sid)).toBe(3);
    });

    it('POST /counter?fail=1 on a new client stores nothing and sets no cookie', async () => {
      const res = await anon().post('/counter?fail=1').expect(500);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it(
      '50 concurrent POST /counter?delayMs=5 of one session are serialised: counts n+1..n+50, none lost ' +
        '(express-session and other last-writer-wins session stores would lose updates here)',
      async () => {
        const sid = await newCounterSession();
        await withSid(sid).post('/counter').expect(200);
        const n = await countOf(sid);
        expect(n).toBe(2);

        const responses = await Promise.all(Array.from({ length: 50 }, () => withSid(sid).post('/counter?delayMs=5')));
        for (const res of responses) {
          expect(res.status).toBe(200);
          expect(res.headers['set-cookie']).toBeUndefined();
        }
        const counts = responses.map((res) => (res.body as { count: number }).count).sort((a, b) => a - b);
        expect(counts).toEqual(Array.from({ length: 50 }, (_, i) => n + 1 + i));
        expect(await countOf(sid)).toBe(n + 50);
      },
    );

    it('a read-only GET /counter waits for the write of an in-flight POST of the same session', async () => {
      const sid = await newCounterSession();
      const lockTaken = sample.counting.settled('getItemExclusive');
      const writing = withSid(sid)
        .post('/counter?delayMs=50')
        .then((res) => res);
      await lockTaken; // the POST holds the session's lock now
      const read = await withSid(sid).get('/counter').expect(200);
      expect(read.body).toEqual({ count: 2 });
      expect((await writing).body).toEqual({ count: 2 });
    });
  });

  describe('cart', () => {
    it('POST /cart/items adds lines (same sku adds qty), GET /cart reads them', async () => {
      const sid = await newCartSession();
      const second = await withSid(sid).post('/cart/items').send({ sku: 'a', qty: 3 }).expect(201);
      expect(second.body).toEqual({ items: [{ sku: 'a', qty: 5 }] });
      expect(second.headers['set-cookie']).toBeUndefined();
      const third = await withSid(sid).post('/cart/items').send({ sku: 'b', qty: 1 }).expect(201);
      expect(third.body).toEqual({
        items: [
          { sku: 'a', qty: 5 },
          { sku: 'b', qty: 1 },
        ],
      });
      const read = await withSid(sid).get('/cart').expect(200);
      expect(read.body).toEqual(third.body);
    });

    it('GET /cart on a fresh client answers an empty cart without a cookie', async () => {
      const res = await anon().get('/cart').expect(200);
      expect(res.body).toEqual({ items: [] });
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it.each<[string, string]>([
      ['missing sku', JSON.stringify({ qty: 1 })],
      ['empty sku', JSON.stringify({ sku: '', qty: 1 })],
      ['qty 0', JSON.stringify({ sku: 'a', qty: 0 })],
      ['qty 1.5', JSON.stringify({ sku: 'a', qty: 1.5 })],
      ['qty "2" (a string)', JSON.stringify({ sku: 'a', qty: '2' })],
      ['a body that is not JSON', '{"sku": "a", "qty": '],
      ['an array body', JSON.stringify([{ sku: 'a', qty: 1 }])],
    ])('POST /cart/items with %s is a 400 and leaves the cart unchanged', async (_name, body) => {
      const sid = await newCartSession();
      const res = await withSid(sid).post('/cart/items').set('Content-Type', 'application/json').send(body).timeout(NOT_BLOCKED);
      expect(res.status).toBe(400);
      expect(res.headers['set-cookie']).toBeUndefined();
      const read = await withSid(sid).get('/cart').expect(200);
      expect(read.body).toEqual({ items: [{ sku: 'a', qty: 2 }] });
      // Nothing was left locked: a good item goes in at once.
      const next = await withSid(sid).post('/cart/items').send({ sku: 'a', qty: 1 }).timeout(NOT_BLOCKED).expect(201);
      expect(next.body).toEqual({ items: [{ sku: 'a', qty: 3 }] });
    });

    it('POST /cart/items with a bad body on a new client is a 400 without a cookie', async () => {
      const res = await anon().post('/cart/items').send({ sku: 'a', qty: 0 }).expect(400);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('DELETE /cart empties the cart', async () => {
      const sid = await newCartSession();
      const cleared = await withSid(sid).delete('/cart').expect(200);
      expect(cleared.body).toEqual({ items: [] });
      expect(cleared.headers['set-cookie']).toBeUndefined();
      const read = await withSid(sid).get('/cart').expect(200);
      expect(read.body).toEqual({ items: [] });
    });
  });

  describe('notes (bench:cost)', () => {
    it('PUT /notes?kb=4 stores 4 KB of notes; GET /notes reads them under the lock and changes nothing', async () => {
      const sid = await newCounterSession();
      await withSid(sid).put('/notes?kb=4').expect(200, { length: 4096 });
      sample.counting.reset();
      await withSid(sid).get('/notes').expect(200, { length: 4096 });
      expect(calls()).toEqual(['getItemExclusive', 'releaseItemExclusive']);
      await withSid(sid).put('/notes?kb=301').expect(400);
      await withSid(sid).put('/notes?kb=x').expect(400);
      await withSid(sid).get('/notes').expect(200, { length: 4096 });
    });
  });

  describe('login, /me, /account, logout', () => {
    it('POST /login moves the session to a new id, keeps the cart, and removes the old id', async () => {
      const oldSid = await newCartSession();
      const login = await withSid(oldSid).post('/login').send({ user: 'ann' }).expect(200);
      expect(login.body).toEqual({ user: 'ann' });
      const cookie = sidCookie(login);
      expect(cookie).toBeDefined();
      const newSid = cookie!.value;
      expect(newSid).toMatch(SESSION_ID);
      expect(newSid).not.toBe(oldSid);
      expect(Object.fromEntries(cookie!.attributes)).toEqual({ path: '/', httponly: true, samesite: 'Lax' });

      expect((await withSid(newSid).get('/me').expect(200)).body).toEqual({ user: 'ann' });
      expect((await withSid(newSid).get('/cart').expect(200)).body).toEqual({ items: [{ sku: 'a', qty: 2 }] });

      const oldMe = await withSid(oldSid).get('/me').expect(200);
      expect(oldMe.body).toEqual({ user: null });
      expect(oldMe.headers['set-cookie']).toBeUndefined();
      expect((await withSid(oldSid).get('/cart').expect(200)).body).toEqual({ items: [] });
      expect(flat(await sample.counting.inner.getItem(oldSid)).item).toBeNull();
    });

    it('POST /login on a new client starts a signed-in session', async () => {
      const login = await anon().post('/login').send({ user: 'bob' }).expect(200);
      expect(login.body).toEqual({ user: 'bob' });
      const sid = sidOf(login);
      expect(sid).toMatch(SESSION_ID);
      expect((await withSid(sid).get('/me').expect(200)).body).toEqual({ user: 'bob' });
    });

    it.each<[string, string]>([
      ['no user', JSON.stringify({})],
      ['an empty user', JSON.stringify({ user: '' })],
      ['a numeric user', JSON.stringify({ user: 5 })],
      ['a user of 65 characters', JSON.stringify({ user: 'x'.repeat(65) })],
      ['a body that is not JSON', '{"user": '],
    ])('POST /login with %s is a 400 and changes nothing', async (_name, body) => {
      const sid = await newCartSession();
      const res = await withSid(sid).post('/login').set('Content-Type', 'application/json').send(body).timeout(NOT_BLOCKED);
      expect(res.status).toBe(400);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect((await withSid(sid).get('/me').expect(200)).body).toEqual({ user: null });
      expect((await withSid(sid).get('/cart').expect(200)).body).toEqual({ items: [{ sku: 'a', qty: 2 }] });
    });

    it('GET /me on a fresh client answers {user: null} without a cookie', async () => {
      const res = await anon().get('/me').expect(200);
      expect(res.body).toEqual({ user: null });
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('GET /account without a session is a 401', async () => {
      const res = await anon().get('/account').expect(401);
      expect(res.body).toMatchObject({ statusCode: 401 });
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('GET /account of a session that is not signed in is a 401 that leaves no lock: a POST /counter right after succeeds', async () => {
      const sid = await newCounterSession();
      await withSid(sid).get('/account').timeout(NOT_BLOCKED).expect(401);
      const next = await withSid(sid).post('/counter').timeout(NOT_BLOCKED).expect(200);
      expect(next.body).toEqual({ count: 2 });
    });

    it('GET /account after login answers the user, the guard and the handler sharing one session load', async () => {
      const oldSid = await newCartSession();
      const sid = sidOf(await withSid(oldSid).post('/login').send({ user: 'ann' }).expect(200));
      sample.counting.reset();
      const res = await withSid(sid).get('/account').expect(200);
      expect(res.body).toEqual({ user: 'ann', cartItems: 1 });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(calls()).toEqual(['getItem']);
    });

    it('POST /logout clears the cookie and ends the session: the old cookie then reads a new, empty session', async () => {
      const oldSid = await newCartSession();
      const sid = sidOf(await withSid(oldSid).post('/login').send({ user: 'ann' }).expect(200));
      await withSid(sid).post('/counter').expect(200);

      const logout = await withSid(sid).post('/logout').expect(200);
      expect(logout.body).toEqual({ user: null });
      const cleared = sidCookie(logout);
      expect(cleared).toBeDefined();
      expect(cleared!.value).toBe('');
      expect(cleared!.attributes.get('path')).toBe('/');
      expect(new Date(cleared!.attributes.get('expires') as string).getTime()).toBe(0); // Thu, 01 Jan 1970 00:00:00 GMT

      const me = await withSid(sid).get('/me').expect(200);
      expect(me.body).toEqual({ user: null });
      expect((await withSid(sid).get('/cart').expect(200)).body).toEqual({ items: [] });
      const counter = await withSid(sid).post('/counter').timeout(NOT_BLOCKED).expect(200);
      expect(counter.body).toEqual({ count: 1 });
      const fresh = sidOf(counter);
      expect(fresh).toMatch(SESSION_ID);
      expect(fresh).not.toBe(sid);
    });

    it('a cookie-keeping client drops the cookie at logout and starts over', async () => {
      const agent = request.agent(sample.server);
      await agent.post('/counter').expect(200);
      await agent.post('/login').send({ user: 'cy' }).expect(200);
      expect((await agent.get('/me').expect(200)).body).toEqual({ user: 'cy' });
      expect((await agent.get('/counter').expect(200)).body).toEqual({ count: 1 });
      await agent.post('/logout').expect(200);
      expect((await agent.get('/me').expect(200)).body).toEqual({ user: null });
      const counter = await agent.post('/counter').expect(200);
      expect(counter.body).toEqual({ count: 1 });
      expect(sidOf(counter)).toMatch(SESSION_ID);
    });
  });

  describe('bad session cookies are never a 500', () => {
    const unknownId = randomBytes(24).toString('base64url');
    it.each<[string, string]>([
      ['garbage', 'sid=garbage'],
      ['empty', 'sid='],
      ['a 4 KB value', `sid=${'a'.repeat(4096)}`],
      ['bad percent-encoding', 'sid=%E0%A4%A'],
      ['a well-formed but unknown id', `sid=${unknownId}`],
      ['an unterminated quoted value', 'sid="abc'],
      ['two sid cookies', `sid=garbage; sid=${unknownId}`],
    ])('%s: GET /counter answers {count: 0} and POST /counter {count: 1} with a fresh cookie', async (_name, cookie) => {
      const read = await as(cookie).get('/counter').expect(200);
      expect(read.body).toEqual({ count: 0 });
      expect(read.headers['set-cookie']).toBeUndefined();

      const write = await as(cookie).post('/counter').expect(200);
      expect(write.body).toEqual({ count: 1 });
      const fresh = sidOf(write);
      expect(fresh).toMatch(SESSION_ID);
      expect(cookie).not.toContain(fresh);
      expect(await countOf(fresh)).toBe(1);
    });
  });

  describe('store calls per request', () => {
    it('GET /ping: none', async () => {
      sample.counting.reset();
      await anon().get('/ping').expect(200);
      expect(calls()).toEqual([]);
    });

    it('first POST /counter of a new client: setAndReleaseItemExclusive only', async () => {
      sample.counting.reset();
      await anon().post('/counter').expect(200);
      expect(calls()).toEqual(['setAndReleaseItemExclusive']);
    });

    it('POST /counter on an existing session: getItemExclusive + setAndReleaseItemExclusive', async () => {
      const sid = await newCounterSession();
      sample.counting.reset();
      await withSid(sid).post('/counter').expect(200);
      expect(calls()).toEqual(['getItemExclusive', 'setAndReleaseItemExclusive']);
    });

    it('GET /counter on an existing, fresh session: getItem only', async () => {
      const sid = await newCounterSession();
      sample.counting.reset();
      await withSid(sid).get('/counter').expect(200);
      expect(calls()).toEqual(['getItem']);
    });

    it('POST /logout: getItemExclusive + removeItem', async () => {
      const sid = await newCounterSession();
      sample.counting.reset();
      await withSid(sid).post('/logout').expect(200);
      expect(calls()).toEqual(['getItemExclusive', 'removeItem']);
    });

    it('POST /counter?fail=1 on an existing session: getItemExclusive + releaseItemExclusive (nothing written)', async () => {
      const sid = await newCounterSession();
      sample.counting.reset();
      await withSid(sid).post('/counter?fail=1').expect(500);
      expect(calls()).toEqual(['getItemExclusive', 'releaseItemExclusive']);
    });

    it('DELETE /cart on a session without a cart: getItemExclusive + releaseItemExclusive (unchanged, nothing written)', async () => {
      const sid = await newCounterSession();
      sample.counting.reset();
      await withSid(sid).delete('/cart').expect(200);
      expect(calls()).toEqual(['getItemExclusive', 'releaseItemExclusive']);
    });

    it('POST /cart/items adding to an existing line (nested mutation): getItemExclusive + setAndReleaseItemExclusive', async () => {
      const sid = await newCartSession();
      sample.counting.reset();
      await withSid(sid).post('/cart/items').send({ sku: 'a', qty: 1 }).expect(201);
      expect(calls()).toEqual(['getItemExclusive', 'setAndReleaseItemExclusive']);
      expect((await withSid(sid).get('/cart').expect(200)).body).toEqual({ items: [{ sku: 'a', qty: 3 }] });
    });

    it('POST /login on an existing session: getItemExclusive + setAndReleaseItemExclusive (new id) + removeItem (old id)', async () => {
      const sid = await newCartSession();
      sample.counting.reset();
      await withSid(sid).post('/login').send({ user: 'ann' }).expect(200);
      expect(calls()).toEqual(['getItemExclusive', 'setAndReleaseItemExclusive', 'removeItem']);
    });
  });
});
