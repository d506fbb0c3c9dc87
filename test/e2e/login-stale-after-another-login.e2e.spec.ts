/**
 * A login (`regenerateId()`) whose lock was broken as stale while its handler ran must be
 * fenced out like any other stale holder (409, no cookie), whatever happened to the session since.
 * When another request had meanwhile moved the session (a second login: the store keeps a "moved"
 * marker under the old id), the stale login's removal of the old id finds it gone *and marked moved*
 * (`removeMovedFrom`: taken for its own removal, resent by a client library), so the stale login
 * answers 200 with a cookie for its own copy: a snapshot from before the requests that ran after its
 * lock was broken. The browser keeps that last cookie: their acknowledged writes are lost.
 * The same when the stale login's removal gets no answer: the marker it then finds must be told from
 * its own (the store records the move's lock id in it, and answers that lock's removal sent again as done).
 */
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { MOVED_MARKER_MS, type SessionStateStore } from '../../src/store/session-state-store.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { UnansweredRemovalStore } from '../support/unanswered-removal-store.js';
import { idOf, sessionApps, type SessionApp } from './session-app.js';

let redis: RedisServer;
const tableName = uniqueTableName('stale-login');
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
  await deleteTable(tableName);
});

const STORES: Record<string, () => Promise<SessionStateStore>> = {
  memory: async () => new InMemorySessionStateStore(),
  redis: async () => new RedisSessionStateStore({ url: redis.url }),
  dynamodb: async () => new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() }),
};

describe.each(ADAPTERS.flatMap((adapter) => Object.keys(STORES).map((store) => [adapter, store] as const)))(
  'a login whose lock went stale while it ran, over %s on %s (two instances)',
  (adapter, storeName) => {
    const { start } = sessionApps();

    it('control: is refused (409, no cookie) when the session was only written meanwhile', async () => {
      const shared = storeName === 'memory' ? await STORES.memory() : undefined;
      const a = await start(adapter, { store: shared ?? (await STORES[storeName]()), executionTimeout: 0.4 });
      const b = await start(adapter, { store: shared ?? (await STORES[storeName]()), executionTimeout: 0.4 });
      const cookie = sessionCookie((await request(a.app.getHttpServer()).post('/count').expect(200)).headers)!;
      const slowLogin = request(a.app.getHttpServer())
        .post('/regenerate?gate=slow')
        .set('Cookie', cookie)
        .then((r) => r);
      await a.gates.arrived('slow');
      await new Promise((r) => setTimeout(r, 600));
      expect((await request(b.app.getHttpServer()).post('/count').set('Cookie', cookie)).body.count).toBe(2);
      a.gates.open('slow');
      const stale = await slowLogin;
      expect({ status: stale.status, setCookie: sessionCookie(stale.headers) !== undefined }).toEqual({ status: 409, setCookie: false });
    });

    it('is refused (409, no cookie) even when another login moved the session meanwhile; the writes acknowledged after its lock was broken are not lost', async () => {
      const shared = storeName === 'memory' ? await STORES.memory() : undefined;
      const a = await start(adapter, { store: shared ?? (await STORES[storeName]()), executionTimeout: 0.4 });
      const b = await start(adapter, { store: shared ?? (await STORES[storeName]()), executionTimeout: 0.4 });
      const httpA = a.app.getHttpServer();
      const httpB = b.app.getHttpServer();
      const first = await request(httpA).post('/count').expect(200);
      const cookie = sessionCookie(first.headers)!;
      // A: a login that takes longer than executionTimeout (parked before its regenerateId()).
      const slowLogin = request(httpA)
        .post('/regenerate?gate=slow')
        .set('Cookie', cookie)
        .then((r) => r);
      await a.gates.arrived('slow');
      await new Promise((r) => setTimeout(r, 600)); // its lock is stale now
      // B breaks the stale lock and counts (acknowledged), then logs in: the session moves to B's new id.
      const counted = await request(httpB).post('/count').set('Cookie', cookie);
      expect(counted.status).toBe(200);
      expect(counted.body.count).toBe(2);
      const login = await request(httpB).post('/regenerate').set('Cookie', cookie);
      expect(login.status).toBe(200);
      const cookieB = sessionCookie(login.headers)!;
      expect((await request(httpB).get('/count').set('Cookie', cookieB).expect(200)).body.count).toBe(2);
      // A's handler ends: its lock was broken, its snapshot (count 1) predates B's acknowledged count.
      a.gates.open('slow');
      const stale = await slowLogin;
      const cookieA = sessionCookie(stale.headers);
      const seen = cookieA ? (await request(httpA).get('/count').set('Cookie', cookieA)).body.count : undefined;
      expect({ status: stale.status, setCookie: cookieA !== undefined, countUnderItsCookie: seen }).toEqual({
        status: 409,
        setCookie: false,
        countUnderItsCookie: undefined,
      });
    });
  },
);

describe.each(ADAPTERS)(
  'a login whose lock went stale while it ran, and whose removal of the old id got no answer, over %s (two instances, one store)',
  (adapter) => {
    const { start } = sessionApps();

    /** A counts once, then logs in slowly: its lock goes stale while its handler is parked. */
    async function staleLogin(store = new UnansweredRemovalStore()) {
      const a = await start(adapter, { store, executionTimeout: 0.4 });
      const b = await start(adapter, { store, executionTimeout: 0.4 });
      const cookie = sessionCookie((await request(a.app.getHttpServer()).post('/count').expect(200)).headers)!;
      const login = request(a.app.getHttpServer())
        .post('/regenerate?gate=slow')
        .set('Cookie', cookie)
        .then((r) => r);
      await a.gates.arrived('slow');
      await new Promise((r) => setTimeout(r, 600)); // its lock is stale now
      return { store, a, b, cookie, login };
    }

    /** B breaks A's stale lock, counts (acknowledged: 2), and logs in: the session moves to B's new id. */
    async function otherLogin(b: SessionApp, cookie: string): Promise<string> {
      expect((await request(b.app.getHttpServer()).post('/count').set('Cookie', cookie).expect(200)).body.count).toBe(2);
      return sessionCookie((await request(b.app.getHttpServer()).post('/regenerate').set('Cookie', cookie).expect(200)).headers)!;
    }

    /** A's stale login refused (409, no cookie), its copy gone: B's session, count 2, is the only one. */
    async function expectRefused(stale: request.Response, a: SessionApp, b: SessionApp, store: UnansweredRemovalStore, cookieB: string) {
      const cookieA = sessionCookie(stale.headers);
      const countUnderA = cookieA ? (await request(a.app.getHttpServer()).get('/count').set('Cookie', cookieA)).body.count : undefined;
      expect({ status: stale.status, setCookie: cookieA !== undefined, countUnderA, sessions: [...store.stored().keys()] }).toEqual({
        status: 409,
        setCookie: false,
        countUnderA: undefined,
        sessions: [idOf(cookieB)],
      });
      expect((await request(b.app.getHttpServer()).get('/count').set('Cookie', cookieB).expect(200)).body.count).toBe(2);
    }

    it('control: its own removal landed (only the answer was lost): 200, the session under the new id alone', async () => {
      const { store, a, cookie, login } = await staleLogin();
      store.fail = true;
      store.lands = true;
      a.gates.open('slow');
      const answer = await login;
      const moved = sessionCookie(answer.headers);
      expect({ status: answer.status, moved: moved !== undefined && moved !== cookie }).toEqual({ status: 200, moved: true });
      expect((await request(a.app.getHttpServer()).get('/count').set('Cookie', moved!).expect(200)).body.count).toBe(1);
      expect((await store.getItem(idOf(cookie))).kind).toBe('absent');
    });

    it("is refused (409, no cookie) when another login had moved the session: the marker is not its own; the other login's session keeps its count", async () => {
      const { store, a, b, cookie, login } = await staleLogin();
      const cookieB = await otherLogin(b, cookie);
      store.fail = true; // A's removal of the old id: no answer, not applied
      a.gates.open('slow');
      await expectRefused(await login, a, b, store, cookieB);
    });

    it("is refused (409, no cookie) when the other login's marker has run out (a store with markers: its own would still stand)", async () => {
      let offset = 0;
      const { store, a, b, cookie, login } = await staleLogin(new UnansweredRemovalStore({ clock: () => Date.now() + offset }));
      const cookieB = await otherLogin(b, cookie);
      offset += MOVED_MARKER_MS + 1; // B's marker has run out (the old id is plainly absent)
      store.fail = true;
      a.gates.open('slow');
      await expectRefused(await login, a, b, store, cookieB);
    });

    it("removal and release both unanswered, the other login's marker still there: refused (409, no cookie), not a fork", async () => {
      const { store, a, b, cookie, login } = await staleLogin();
      const cookieB = await otherLogin(b, cookie);
      store.fail = true;
      store.blind = true; // and its release: no answer (the store answers again right after)
      a.gates.open('slow');
      await expectRefused(await login, a, b, store, cookieB);
    });
  },
);
