/**
 * Cookie cases from expressjs/session's and fastify/session's tests, where MIGRATING.md says an option
 * is "the same" as express-session's (found by review R9):
 * - `cookie.path`: a request outside it gets no session cookie and stores no new session (the browser
 *   would store `Path=/foo` from `/count` but never send it back there: every write would start, and
 *   store, a session nobody sees again). RFC 6265 5.1.4 path-match, as fastify/session's `verifyPath`.
 * - `sameSite: 'none'` with `secure: 'auto'` over plain HTTP: `SameSite=Lax`, never `None` without `Secure`.
 */
import request from 'supertest';
import { startSessionApp, type SessionApp } from './session-app.js';
import { ADAPTERS, sessionCookie, sessionSetCookie } from '../support/test-app.js';

describe.each(ADAPTERS)('cookie cases of the peers (%s)', (adapter) => {
  describe('cookie.path "/foo" (MIGRATING: "the same" as express-session)', () => {
    let t: SessionApp;
    beforeAll(async () => {
      t = await startSessionApp(adapter, { cookie: { path: '/foo' } });
    });
    afterAll(() => t.app.close());

    // expressjs/session: cookie option > when "path" set to "/foo/bar" > "should not set cookie for "/" request";
    // fastify/session base.test.js: "should not set session cookie on invalid path".
    it('a request outside the cookie path gets no session cookie, and stores no session', async () => {
      t.counter.reset();
      const answer = await request(t.app.getHttpServer()).post('/count').expect(200);
      expect(sessionSetCookie(answer.headers)).toBeUndefined();
      expect(t.counter.calls.setAndReleaseItemExclusive ?? 0).toBe(0);
    });
  });

  describe('cookie.path "/count": requests inside it', () => {
    let t: SessionApp;
    beforeAll(async () => {
      t = await startSessionApp(adapter, { cookie: { path: '/count' } });
    });
    afterAll(() => t.app.close());
    const http = () => request(t.app.getHttpServer());

    it('get the cookie (with its Path) and keep their session, a query string included', async () => {
      const first = await http().post('/count?x=1').expect(200);
      expect(sessionSetCookie(first.headers)).toMatch(/; Path=\/count;/);
      const cookie = sessionCookie(first.headers)!;
      const second = await http().post('/count').set('Cookie', cookie).expect(200);
      expect(second.body).toEqual({ count: (first.body as { count: number }).count + 1 });
    });

    it('a stored session used outside the path (a client sending the cookie anyway) is saved, with no cookie sent there', async () => {
      const cookie = sessionCookie((await http().post('/count').expect(200)).headers)!;
      t.counter.reset();
      const elsewhere = await http().post('/seed').set('Cookie', cookie).expect(200);
      expect(sessionSetCookie(elsewhere.headers)).toBeUndefined();
      expect(t.counter.calls.setAndReleaseItemExclusive).toBe(1);
    });
  });

  describe('cookie.path with the id header: the header has no path', () => {
    let t: SessionApp;
    beforeAll(async () => {
      t = await startSessionApp(adapter, { cookie: { path: '/foo' }, idHeader: 'x-session-id' });
    });
    afterAll(() => t.app.close());

    it('a request naming its session by the header gets its id there, wherever its path', async () => {
      const answer = await request(t.app.getHttpServer()).post('/count').set('x-session-id', '').expect(200);
      expect(answer.headers['x-session-id']).toMatch(/^[\w-]{32}$/);
    });
  });

  describe("sameSite 'none' with secure 'auto' over plain HTTP", () => {
    let t: SessionApp;
    beforeAll(async () => {
      t = await startSessionApp(adapter, { cookie: { sameSite: 'none' } });
    });
    afterAll(() => t.app.close());

    // expressjs/session: cookie option > when "sameSite" set to "auto" > combined with secure auto >
    // "should set neither Secure nor SameSite=None when insecure"; fastify/session cookie.test.js
    // "should set session cookie secureAuto change SameSite" (SameSite=Lax). Browsers refuse `SameSite=None` without `Secure`.
    it('never sends SameSite=None without Secure: Lax over plain HTTP', async () => {
      const answer = await request(t.app.getHttpServer()).post('/count').expect(200);
      const line = sessionSetCookie(answer.headers);
      expect(line).toBeDefined();
      const attributes = line!
        .split('; ')
        .slice(1)
        .map((a) => a.toLowerCase());
      expect(attributes).toContain('samesite=lax');
      expect(attributes).not.toContain('secure');
    });
  });
});
