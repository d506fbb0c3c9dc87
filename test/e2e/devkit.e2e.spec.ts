import { Logger, UnauthorizedException, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateModule, type SessionStateModuleOptions, type SessionStateStore } from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { createTestSession, readSession, seedSession } from '../../src/testing/index.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, createTestApp, sessionCookie, sessionSetCookie, type AdapterName } from '../support/test-app.js';
import { DevkitTestController, type DevkitSession } from './fixtures/devkit-test.controller.js';
import { startSessionApp } from './session-app.js';

type StoreName = 'memory' | 'dynamodb';
const STORES: StoreName[] = ['memory', 'dynamodb'];
const MINUTE = 60_000;
const tableName = uniqueTableName('devkit');
afterAll(() => deleteTable(tableName));

async function createStore(kind: StoreName, clock?: () => number): Promise<SessionStateStore> {
  if (kind === 'memory') return new InMemorySessionStateStore({ clock });
  return new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig(), clock });
}

describe.each(ADAPTERS.flatMap((adapter) => STORES.map((store) => [adapter, store] as [AdapterName, StoreName])))(
  'developer kit over %s on the %s store',
  (adapter, storeName) => {
    const apps: INestApplication[] = [];
    afterEach(async () => {
      await Promise.all(apps.splice(0).map((app) => app.close()));
    });

    async function start(options: SessionStateModuleOptions = {}, clock?: () => number) {
      const app = await createTestApp(adapter, {
        imports: [SessionStateModule.forRoot({ store: await createStore(storeName, clock), ...options })],
        controllers: [DevkitTestController],
      });
      apps.push(app);
      return { app, http: app.getHttpServer() };
    }

    describe('saveOnError', () => {
      it('false (default): a 401 after writing discards the write, and releases the lock', async () => {
        const { app, http } = await start();
        const cookie = await seedSession<DevkitSession>(app, { attempts: 2 });
        await request(http).post('/devkit/login').set('Cookie', cookie).expect(401);
        expect(await readSession<DevkitSession>(app, cookie)).toEqual({ attempts: 2 });
        // Released: the next writer gets the session at once.
        await request(http).post('/devkit/bump').set('Cookie', cookie).expect(200, { count: 1 });
      });

      it("'client-errors': a 401 or 403 after writing keeps the write, a 500 discards it", async () => {
        const { app, http } = await start({ saveOnError: 'client-errors' });
        const cookie = await seedSession<DevkitSession>(app, { attempts: 0 });
        await request(http).post('/devkit/login').set('Cookie', cookie).expect(401);
        await request(http).post('/devkit/login').set('Cookie', cookie).expect(401);
        await request(http).post('/devkit/forbidden').set('Cookie', cookie).expect(403);
        expect(await readSession<DevkitSession>(app, cookie)).toEqual({ attempts: 3 });
        await request(http).post('/devkit/crash').set('Cookie', cookie).expect(500);
        expect(await readSession<DevkitSession>(app, cookie)).toEqual({ attempts: 3 });
        await request(http).get('/devkit/data').set('Cookie', cookie).expect(200, { attempts: 3 });
      });

      it("'client-errors': a new session whose first request fails with a 401 is created, with its cookie", async () => {
        const { app, http } = await start({ saveOnError: 'client-errors' });
        const res = await request(http).post('/devkit/login').expect(401);
        expect(sessionCookie(res.headers)).toBeDefined();
        expect(await readSession<DevkitSession>(app, res.headers['set-cookie'] as unknown as string[])).toEqual({ attempts: 1 });
      });

      it('a predicate decides per error; one that throws discards (and the client still gets the handler’s answer)', async () => {
        const { app, http } = await start({ saveOnError: (error) => error instanceof UnauthorizedException });
        const cookie = await seedSession<DevkitSession>(app, { attempts: 0 });
        await request(http).post('/devkit/login').set('Cookie', cookie).expect(401);
        await request(http).post('/devkit/forbidden').set('Cookie', cookie).expect(403);
        expect(await readSession<DevkitSession>(app, cookie)).toEqual({ attempts: 1 });

        const throwing = await start({
          saveOnError: () => {
            throw new Error('predicate bug');
          },
        });
        const other = await seedSession<DevkitSession>(throwing.app, { attempts: 0 });
        await request(throwing.http).post('/devkit/login').set('Cookie', other).expect(401);
        expect(await readSession<DevkitSession>(throwing.app, other)).toEqual({ attempts: 0 });
      });
    });

    describe('the testing kit', () => {
      it('seedSession stores a session and answers its Cookie header; readSession reads it back after requests', async () => {
        const { app, http } = await start();
        const cookie = await seedSession<DevkitSession>(app, { user: { id: 'u1', roles: ['admin'] }, count: 4 });
        expect(cookie).toMatch(/^sid=[A-Za-z0-9_-]{32}$/);
        await request(http)
          .get('/devkit/data')
          .set('Cookie', cookie)
          .expect(200, { user: { id: 'u1', roles: ['admin'] }, count: 4 });
        await request(http).post('/devkit/bump').set('Cookie', cookie).expect(200, { count: 5 });
        expect(await readSession<DevkitSession>(app, cookie)).toEqual({ user: { id: 'u1', roles: ['admin'] }, count: 5 });
      });

      it('with a secret, the seeded cookie is signed and accepted; a forged signature reads as no session', async () => {
        const { app, http } = await start({ secret: 'a secret of sixteen+ characters', cookie: { name: 'app.sid' } });
        const cookie = await seedSession<DevkitSession>(app, { count: 1 });
        expect(cookie).toMatch(/^app\.sid=[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/);
        await request(http).post('/devkit/bump').set('Cookie', cookie).expect(200, { count: 2 });
        expect(await readSession<DevkitSession>(app, `other=1; ${cookie}`)).toEqual({ count: 2 });
        const forged = `${cookie.slice(0, -3)}AAA`;
        expect(await readSession(app, forged)).toBeNull();
        await request(http).post('/devkit/bump').set('Cookie', forged).expect(200, { count: 1 });
      });

      it('readSession answers null for no cookie, an unknown session, and an abandoned one', async () => {
        const { app } = await start();
        expect(await readSession(app, undefined)).toBeNull();
        expect(await readSession(app, 'other=1')).toBeNull();
        expect(await readSession(app, `sid=${'A'.repeat(32)}`)).toBeNull();
      });

      it('seedSession refuses values JSON cannot hold, naming the key', async () => {
        const { app } = await start();
        await expect(seedSession(app, { at: new Date() } as never)).rejects.toThrow(/Session value "at" is not JSON data/);
      });

      it('a handler storing a Date fails with a clear error and saves nothing', async () => {
        const { app, http } = await start();
        const cookie = await seedSession<DevkitSession>(app, { count: 1 });
        await request(http).post('/devkit/date').set('Cookie', cookie).expect(500);
        expect(await readSession(app, cookie)).toEqual({ count: 1 });
      });
    });

    describe('cookie lifetime', () => {
      it('default: a browser-session cookie (no Max-Age, no Expires), sent only when the session is new', async () => {
        const { http } = await start();
        const first = await request(http).post('/devkit/bump').expect(200);
        expect(sessionSetCookie(first.headers)).not.toMatch(/Max-Age|Expires/i);
        const cookie = sessionCookie(first.headers)!;
        const again = await request(http).post('/devkit/bump').set('Cookie', cookie).expect(200);
        expect(again.headers['set-cookie']).toBeUndefined();
      });

      it('cookie.maxAge: a persistent cookie, sent again by every request that slides the expiry (so it lives as long as the session)', async () => {
        const { http } = await start({ timeout: 20, cookie: { maxAge: 10 * MINUTE, domain: 'example.com', path: '/' } });
        const first = await request(http).post('/devkit/bump').expect(200);
        const line = sessionSetCookie(first.headers)!;
        expect(line).toMatch(/; Max-Age=600(;|$)/);
        expect(line).toMatch(/; Domain=example\.com(;|$)/);
        expect(line).toMatch(/; Expires=/);
        const cookie = sessionCookie(first.headers)!;
        // Changed, and unchanged (released): both slide the expiry, both renew the cookie.
        const changed = await request(http).post('/devkit/bump').set('Cookie', cookie).expect(200);
        expect(sessionSetCookie(changed.headers)).toMatch(/; Max-Age=600(;|$)/);
        const unchanged = await request(http).post('/devkit/noop').set('Cookie', cookie).expect(200);
        expect(sessionSetCookie(unchanged.headers)).toMatch(/; Max-Age=600(;|$)/);
        expect(sessionCookie(unchanged.headers)).toBe(cookie);
        // A read-only request that does not slide the expiry does not renew it either.
        const read = await request(http).get('/devkit/data').set('Cookie', cookie).expect(200);
        expect(read.headers['set-cookie']).toBeUndefined();
      });

      it('per session (remember me): persisted with the session, renewed on later requests, and back to a session cookie with null', async () => {
        const { app, http } = await start({ timeout: 20 });
        const cookie = await seedSession<DevkitSession>(app, { count: 0 });
        const remembered = await request(http).post('/devkit/remember?minutes=1440&ms=86400000').set('Cookie', cookie).expect(200);
        expect(remembered.body).toEqual({ maxAge: 86_400_000, timeout: 1440 });
        expect(sessionSetCookie(remembered.headers)).toMatch(/; Max-Age=86400(;|$)/);
        // Stored with the session, hidden from its data.
        expect(await readSession(app, cookie)).toEqual({ count: 0 });
        const later = await request(http).post('/devkit/noop').set('Cookie', cookie).expect(200);
        expect(sessionSetCookie(later.headers)).toMatch(/; Max-Age=86400(;|$)/);

        const forgotten = await request(http).post('/devkit/remember?ms=null').set('Cookie', cookie).expect(200);
        expect(sessionSetCookie(forgotten.headers)).toBeDefined();
        expect(sessionSetCookie(forgotten.headers)).not.toMatch(/Max-Age|Expires/i);
        const after = await request(http).post('/devkit/noop').set('Cookie', cookie).expect(200);
        expect(after.headers['set-cookie']).toBeUndefined();
      });

      it('never outlives the session: a lowered timeout caps the cookie, a longer cookie than the timeout is refused', async () => {
        const { app, http } = await start({ timeout: 20 });
        const cookie = await seedSession<DevkitSession>(app, { count: 0 });
        await request(http).post('/devkit/remember?minutes=120&ms=7200000').set('Cookie', cookie).expect(200);
        const lowered = await request(http).post('/devkit/remember?minutes=30').set('Cookie', cookie).expect(200);
        expect(sessionSetCookie(lowered.headers)).toMatch(/; Max-Age=1800(;|$)/);
        // 2 h of cookie on a 30 min session: a RangeError in the handler (500), nothing saved.
        await request(http).post('/devkit/remember?ms=7200000').set('Cookie', cookie).expect(500);
        const still = await request(http).post('/devkit/noop').set('Cookie', cookie).expect(200);
        expect(sessionSetCookie(still.headers)).toMatch(/; Max-Age=1800(;|$)/);
      });

      it('a read-only request renews a persistent cookie when it slides the expiry (over half the timeout elapsed)', async () => {
        // Seeded 15 minutes ago by the store's clock: its expiry is 5 minutes away.
        let offset = -15 * MINUTE;
        const { app, http } = await start({ timeout: 20, cookie: { maxAge: 20 * MINUTE } }, () => Date.now() + offset);
        const cookie = await seedSession<DevkitSession>(app, { count: 1 });
        offset = 0;
        const early = await seedSession<DevkitSession>(app, { count: 2 });
        const notYet = await request(http).get('/devkit/data').set('Cookie', early).expect(200, { count: 2 });
        expect(notYet.headers['set-cookie']).toBeUndefined();
        const read = await request(http).get('/devkit/data').set('Cookie', cookie).expect(200, { count: 1 });
        expect(sessionSetCookie(read.headers)).toMatch(/; Max-Age=1200(;|$)/);
      });
    });
  },
);

describe.each(ADAPTERS)('cookie attributes over %s', (adapter) => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('partitioned (CHIPS) with secure: Partitioned and Secure; path and domain as configured', async () => {
    app = await createTestApp(adapter, {
      imports: [
        SessionStateModule.forRoot({ cookie: { partitioned: true, secure: true, sameSite: 'none', path: '/devkit', domain: 'example.com' } }),
      ],
      controllers: [DevkitTestController],
    });
    const line = sessionSetCookie((await request(app.getHttpServer()).post('/devkit/bump').expect(200)).headers)!;
    expect(line.split('; ').slice(1).sort()).toEqual(['Domain=example.com', 'HttpOnly', 'Partitioned', 'Path=/devkit', 'SameSite=None', 'Secure']);
  });

  it("partitioned with secure 'auto' over plain HTTP: neither Secure nor Partitioned (browsers would refuse the cookie)", async () => {
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ cookie: { partitioned: true } })],
      controllers: [DevkitTestController],
    });
    const line = sessionSetCookie((await request(app.getHttpServer()).post('/devkit/bump').expect(200)).headers)!;
    expect(line).not.toMatch(/Partitioned|Secure/);
  });
});

describe.each(ADAPTERS)('a persistent cookie and an @Res() handler over %s', (adapter) => {
  afterEach(() => vi.restoreAllMocks());

  it('the renewal is skipped without a warning when the handler already sent the response; the session is saved', async () => {
    const t = await startSessionApp(adapter, { cookie: { maxAge: 10 * MINUTE } });
    try {
      const http = t.app.getHttpServer();
      const cookie = sessionCookie((await request(http).post('/seed').expect(200)).headers)!;
      const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
      const done = t.counter.next('setAndReleaseItemExclusive');
      await request(http).post('/raw').set('Cookie', cookie).expect(200);
      await done;
      expect(warn).not.toHaveBeenCalled();
      expect(await readSession(t.app, cookie)).toEqual({ seeded: true, count: 1 });
    } finally {
      await t.app.close();
    }
  });
});

describe('the testing kit on an application without SessionStateModule', () => {
  it('says so, rather than failing on a missing provider', async () => {
    const moduleRef = await Test.createTestingModule({ controllers: [] }).compile();
    await expect(seedSession(moduleRef, { count: 1 })).rejects.toThrow('this application does not import SessionStateModule');
    await expect(readSession(moduleRef, 'sid=x')).rejects.toThrow('this application does not import SessionStateModule');
  });
});

describe('a unit test of a handler, with createTestSession', () => {
  it('runs the handler on a typed session and checks what it wrote', () => {
    const controller = new DevkitTestController();
    const session = createTestSession<DevkitSession>({ count: 41 });
    expect(controller.bump(session)).toEqual({ count: 42 });
    expect(session.get('count')).toBe(42);
    expect(() => controller.login(session)).toThrow(UnauthorizedException);
    expect(session.get('attempts')).toBe(1);
  });
});
