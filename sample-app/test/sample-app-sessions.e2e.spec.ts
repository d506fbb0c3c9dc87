/**
 * The sample app's "where am I signed in" routes (`SessionManager`), on Express and Fastify, on the
 * in-memory store and on DynamoDB Local, each time with two instances sharing the store: a user's
 * devices signed in on either instance, listed, signed out one by one or all but this one.
 */
import { DynamoDBSessionStateStore } from 'nestjs-session-state/dynamodb';
import { InMemorySessionStateStore, type SessionStateStore } from 'nestjs-session-state';
import request from 'supertest';
import { deleteTable, localClientConfig, uniqueTableName } from '../../test/support/dynamodb-test-helpers.js';
import { sidOf } from './support/cookies.js';
import { startSampleApp, type AdapterName, type SampleApp } from './support/sample-app.js';

const STORES: [string, () => Promise<{ store: SessionStateStore; drop(): Promise<void> }>][] = [
  ['memory', async () => ({ store: new InMemorySessionStateStore(), drop: async () => {} })],
  [
    'DynamoDB Local',
    async () => {
      const tableName = uniqueTableName('sample-sessions');
      const store = new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() });
      return { store, drop: () => deleteTable(tableName) };
    },
  ],
];

describe.each<AdapterName>(['express', 'fastify'])('sample app, sessions per user, on %s', (adapter) => {
  describe.each(STORES)('on %s, two instances', (_name, makeStore) => {
    let a: SampleApp;
    let b: SampleApp;
    let drop: () => Promise<void>;

    beforeAll(async () => {
      const made = await makeStore();
      drop = made.drop;
      [a, b] = await Promise.all([startSampleApp(adapter, made.store), startSampleApp(adapter, made.store)]);
    });
    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()]);
      await drop?.();
    });

    /** A browser (a cookie), signed in as `user` on `app` through `POST /login`. */
    async function device(app: SampleApp, user: string, userAgent: string) {
      const login = await request(app.server).post('/login').set('User-Agent', userAgent).send({ user }).expect(200);
      const cookie = `sid=${sidOf(login)}`;
      const on = (other: SampleApp) => ({
        get: (path: string) => request(other.server).get(path).set('Cookie', cookie),
        post: (path: string) => request(other.server).post(path).set('Cookie', cookie),
        delete: (path: string) => request(other.server).delete(path).set('Cookie', cookie),
      });
      return { cookie, ...on(app), on };
    }
    const me = async (d: { get(path: string): request.Test }) => (await d.get('/me').expect(200)).body.user;

    it("lists the user's sessions from any instance: the caller's marked, no session id, the device it came from", async () => {
      const laptop = await device(a, 'ada-list', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0');
      const phone = await device(
        b,
        'ada-list',
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      );
      await device(a, 'alan-list', 'curl/8.5.0');
      const { sessions } = (await laptop.on(b).get('/account/sessions').expect(200)).body;
      expect(sessions).toHaveLength(2);
      expect(sessions[0]).toMatchObject({ current: true, client: { userAgent: 'Firefox 128 on Linux' } });
      expect(sessions[1]).toMatchObject({ current: false, client: { userAgent: 'Safari 17 on iOS' } });
      for (const s of sessions) {
        expect(Date.parse(s.created)).not.toBeNaN();
        expect(Date.parse(s.lastActive)).toBeGreaterThanOrEqual(Date.parse(s.created) - 1000);
        // A handle is not an id: it names no session as a cookie.
        for (const d of [laptop, phone]) expect(s.handle).not.toContain(d.cookie.slice(4));
        expect((await request(a.server).get('/me').set('Cookie', `sid=${s.handle}`).expect(200)).body).toEqual({ user: null });
      }
    });

    it("signs out one device by its handle; another user's handle, a forged or a stale one: the same 404", async () => {
      const laptop = await device(a, 'ada-one', 'laptop/1');
      const phone = await device(b, 'ada-one', 'phone/1');
      const other = await device(a, 'alan-one', 'other/1');
      const [otherHandle] = (await other.get('/account/sessions').expect(200)).body.sessions.map((s: { handle: string }) => s.handle);
      await laptop.delete(`/account/sessions/${otherHandle}`).expect(404);
      expect(await me(other)).toBe('alan-one');
      await laptop.delete('/account/sessions/not-a-handle').expect(404);
      const phoneHandle = (await laptop.get('/account/sessions').expect(200)).body.sessions.find((s: { current: boolean }) => !s.current).handle;
      await laptop.on(b).delete(`/account/sessions/${phoneHandle}`).expect(204);
      expect(await me(phone)).toBeNull();
      await laptop.delete(`/account/sessions/${phoneHandle}`).expect(404); // stale now
      expect((await laptop.get('/account/sessions').expect(200)).body.sessions).toHaveLength(1);
      expect(await me(laptop)).toBe('ada-one');
    });

    it('signs out all other devices, keeping this one; its own handle signs itself out', async () => {
      const laptop = await device(a, 'ada-all', 'laptop/1');
      const phones = await Promise.all([device(b, 'ada-all', 'phone/1'), device(a, 'ada-all', 'phone/2')]);
      expect((await laptop.on(b).post('/account/sessions/sign-out-others').expect(200)).body).toEqual({ signedOut: 2 });
      for (const phone of phones) expect(await me(phone)).toBeNull();
      const [own] = (await laptop.get('/account/sessions').expect(200)).body.sessions;
      expect(own.current).toBe(true);
      await laptop.delete(`/account/sessions/${own.handle}`).expect(204);
      expect(await me(laptop)).toBeNull();
    });

    it('a device signed out while a request of it holds its session: that request is refused (409), nothing saved', async () => {
      const laptop = await device(a, 'ada-held', 'laptop/1');
      const phone = await device(b, 'ada-held', 'phone/1');
      b.counting.reset();
      const held = phone.post('/counter?delayMs=1000').then((r) => r);
      await b.counting.settled('getItemExclusive'); // the phone's request holds the lock now
      expect((await laptop.post('/account/sessions/sign-out-others').expect(200)).body).toEqual({ signedOut: 1 });
      expect((await held).status).toBe(409);
      expect(await me(phone)).toBeNull();
      expect((await phone.get('/counter').expect(200)).body).toEqual({ count: 0 });
    });

    it('without signing in: 401 on every route', async () => {
      const anon = await request(a.server).post('/counter').expect(200);
      const cookie = `sid=${sidOf(anon)}`;
      await request(a.server).get('/account/sessions').set('Cookie', cookie).expect(401);
      await request(a.server).post('/account/sessions/sign-out-others').set('Cookie', cookie).expect(401);
      await request(a.server).delete('/account/sessions/x').set('Cookie', cookie).expect(401);
      await request(a.server).get('/account/sessions').expect(401);
    });
  });
});
