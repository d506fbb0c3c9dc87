/**
 * Under `mountSessionState`, a route that does not use the session (the passport recipe's `/me`
 * behind a guard reading `req.isAuthenticated()`) completes the session the mount read by its
 * answer: when the stored expiry slides, a persistent cookie is sent again with it (MIGRATING.md,
 * `rolling`), and a cookie signed with an older secret is signed again. A refusal (4xx) slides the
 * expiry without a cookie, as any failed request. Found by review R9: the mount's lease was completed
 * as failed after the answer had left, so the expiry slid but the cookie was never renewed, and a user
 * active only on such routes lost the cookie (and the login) `maxAge` after the last write.
 * Peer: expressjs/session "rolling option: should force cookie on unmodified session".
 */
import { createHmac } from 'node:crypto';
import { Controller, ForbiddenException, Get } from '@nestjs/common';
import request from 'supertest';
import { InMemorySessionStateStore, mountSessionState } from '../../src/index.js';
import { startSessionApp, type SessionApp } from './session-app.js';
import { ADAPTERS, sessionCookie, sessionSetCookie } from '../support/test-app.js';

const TIMEOUT_MIN = 1;
/** The store's clock runs this far behind: a session saved now expires in 25 s, past half its 60 s timeout. */
const BEHIND_MS = 35_000;
const OLD_SECRET = 'the-old-secret-of-this-test';
const NEW_SECRET = 'the-new-secret-of-this-test';

/** A route that never uses the session and refuses (as `AuthenticatedGuard` does a visitor). */
@Controller()
class RefusingController {
  @Get('refused')
  refused(): never {
    throw new ForbiddenException();
  }
}

describe.each(ADAPTERS)('the mount completes the session of a route that does not use it by its answer (%s)', (adapter) => {
  let t: SessionApp;
  let store: InMemorySessionStateStore;
  beforeAll(async () => {
    store = new InMemorySessionStateStore({ clock: () => Date.now() - BEHIND_MS });
    t = await startSessionApp(
      adapter,
      { store, timeout: TIMEOUT_MIN, cookie: { maxAge: TIMEOUT_MIN * 60_000 }, secret: [NEW_SECRET, OLD_SECRET] },
      { configure: (app) => mountSessionState(app), controllers: [RefusingController] },
    );
  });
  afterAll(() => t.app.close());
  const http = () => request(t.app.getHttpServer());
  const idOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1, cookie.lastIndexOf('.'));
  const expiresOf = async (cookie: string) => {
    const read = await store.getItem(idOf(cookie));
    return read.kind === 'loaded' ? read.expires : null;
  };
  const seed = async () => sessionCookie((await http().post('/seed').expect(200)).headers)!;

  it('control: a ReadOnly route past half the timeout slides the expiry and renews the cookie', async () => {
    const answer = await http()
      .get('/count')
      .set('Cookie', await seed())
      .expect(200);
    expect(sessionSetCookie(answer.headers)).toMatch(/Max-Age=60/);
  });

  it('a route that does not use the session: when the mount slides the expiry, the cookie is renewed too', async () => {
    const cookie = await seed();
    const before = await expiresOf(cookie);
    const answer = await http().get('/free').set('Cookie', cookie).expect(200);
    expect(answer.text).toBe('free');
    expect(await expiresOf(cookie)).toBeGreaterThan(before!); // the store's expiry slid…
    expect(sessionSetCookie(answer.headers)).toMatch(new RegExp(`^${cookie}; Max-Age=60;`)); // …so the cookie follows it
  });

  it('a cookie signed with an older secret is signed again there', async () => {
    const id = idOf(await seed());
    const old = `sid=${id}.${createHmac('sha256', OLD_SECRET).update(id).digest('base64url')}`;
    const answer = await http().get('/free').set('Cookie', old).expect(200);
    const renewed = sessionCookie(answer.headers);
    expect(renewed).toBeDefined();
    expect(renewed).not.toBe(old);
    expect(idOf(renewed!)).toBe(id);
  });

  it('a refusal (403) slides the expiry but sends no cookie, as any failed request', async () => {
    const cookie = await seed();
    const before = await expiresOf(cookie);
    const answer = await http().get('/refused').set('Cookie', cookie).expect(403);
    expect(sessionSetCookie(answer.headers)).toBeUndefined();
    expect(await expiresOf(cookie)).toBeGreaterThan(before!);
  });

  it('nothing is held or sent when nothing is due (a fresh session)', async () => {
    const fresh = await startSessionApp(
      adapter,
      { timeout: TIMEOUT_MIN, cookie: { maxAge: TIMEOUT_MIN * 60_000 } },
      { configure: (app) => mountSessionState(app) },
    );
    try {
      const cookie = sessionCookie((await request(fresh.app.getHttpServer()).post('/seed').expect(200)).headers)!;
      fresh.counter.reset();
      const answer = await request(fresh.app.getHttpServer()).get('/free').set('Cookie', cookie).expect(200);
      expect(sessionSetCookie(answer.headers)).toBeUndefined();
      expect(fresh.counter.calls).toEqual({ getItem: 1 }); // the mount's read only
    } finally {
      await fresh.app.close();
    }
  });
});
