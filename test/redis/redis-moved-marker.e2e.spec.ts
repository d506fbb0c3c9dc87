/**
 * The moved session's marker on a real Redis, across two instances: a login on one instance, then a
 * request with the old cookie on the other. The marker is the session's own key reduced to one field
 * (`m`, until when) with its own PEXPIRE, written by the login's REMOVE script: the login's round
 * trips are what they were, and no index or sweep of owners ever names it.
 */
import request from 'supertest';
import { MOVED_MARKER_MS } from '../../src/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { idOf, startSessionApp, type SessionApp } from '../e2e/session-app.js';
import { locksLeft, roundTripsDuring, useRedisServer } from '../support/redis-test-helpers.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';

const redis = useRedisServer();

describe.each(ADAPTERS)('a moved session marker on a real Redis, two instances (%s)', (adapter) => {
  const apps: SessionApp[] = [];

  async function instance(clock?: () => number) {
    const store = new RedisSessionStateStore({ url: redis.server.url, ...(clock ? { clock } : {}) });
    const app = await startSessionApp(adapter, { store });
    apps.push(app);
    return { http: app.app.getHttpServer(), raw: store };
  }

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
    expect(await locksLeft(redis.admin)).toBe(0);
  });

  const seeded = async (http: unknown) =>
    sessionCookie(
      (
        await request(http as never)
          .post('/seed')
          .expect(200)
      ).headers,
    )!;
  const keyOf = (cookie: string) => `sess:{${idOf(cookie)}}`;

  it('a write with the old cookie on the other instance after a login: 409, no cookie; a read: 200, no cookie; the login stands', async () => {
    const a = await instance();
    const b = await instance();
    const old = await seeded(a.http);
    await request(a.http).post('/count').set('Cookie', old).expect(200);
    await request(a.http)
      .post('/regenerate')
      .set('Cookie', await seeded(a.http))
      .expect(200); // the scripts are cached from here on
    let login!: request.Response;
    // The login: its lock, the new record, the old one's removal (with the marker): 3 scripts, as before.
    expect(
      await roundTripsDuring(redis.server.url, async () => {
        login = await request(a.http).post('/regenerate').set('Cookie', old).expect(200);
      }),
    ).toEqual({ evalsha: 3 });
    const loggedIn = sessionCookie(login.headers)!;

    const write = await request(b.http).post('/count').set('Cookie', old);
    expect(write.status).toBe(409);
    expect(write.headers['retry-after']).toBe('1');
    expect(sessionCookie(write.headers)).toBeUndefined();
    const read = await request(b.http).get('/count').set('Cookie', old).expect(200, { count: 0 });
    expect(read.headers['set-cookie']).toBeUndefined();
    await request(b.http).get('/profile').set('Cookie', loggedIn).expect(200, { user: 'ann', count: 1 });

    // The marker: until when and the move's lock id, no data, no owner; its key expires by itself.
    expect((await redis.admin.hKeys(keyOf(old))).sort()).toEqual(['b', 'm']);
    const pttl = await redis.admin.pTTL(keyOf(old));
    expect(pttl).toBeGreaterThan(MOVED_MARKER_MS - 5_000);
    expect(pttl).toBeLessThanOrEqual(MOVED_MARKER_MS + 60_000); // + ttlExtraSeconds (default 60)
    expect(await b.raw.getItem(idOf(old))).toEqual({ kind: 'absent', moved: true });
    expect(await b.raw.getItemExclusive(idOf(old))).toEqual({ kind: 'absent', moved: true });
    expect(await b.raw.probeLock(idOf(old))).toBeNull();
  });

  it('after MOVED_MARKER_MS (by the store clock) the old id is unknown again: a write starts a new session', async () => {
    let later = Date.now();
    const a = await instance();
    const b = await instance(() => later);
    const old = await seeded(a.http);
    await request(a.http).post('/regenerate').set('Cookie', old).expect(200);
    later = Date.now() + MOVED_MARKER_MS;
    expect(await b.raw.getItem(idOf(old))).toEqual({ kind: 'absent' });
    expect(await b.raw.getItemExclusive(idOf(old))).toEqual({ kind: 'absent' });
    const write = await request(b.http).post('/count').set('Cookie', old).expect(200, { count: 1 });
    expect(sessionCookie(write.headers)).not.toBe(old);
  });

  it('abandon leaves no marker: the key is gone', async () => {
    const a = await instance();
    const old = await seeded(a.http);
    await request(a.http).post('/abandon').set('Cookie', old).expect(200);
    expect(await redis.admin.exists(keyOf(old))).toBe(0);
    expect(await a.raw.getItem(idOf(old))).toEqual({ kind: 'absent' });
  });
});
