import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import { SessionStateModule, type SessionStateModuleOptions, type SessionStateStore } from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { countingStore } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { CounterGateway } from './fixtures/counter.gateway.js';
import { OwnerSessionsController } from './fixtures/owner-sessions.controller.js';
import { idOf } from './session-app.js';

/*
 * Issue 20 on real servers: a user's list of sessions (by opaque handle), sign out one, sign out
 * all others, a session revoked while a request of another instance holds it, a WebSocket of a
 * revoked session, and the absolute lifetime; on Express and Fastify, on the memory store, DynamoDB
 * Local and a real redis-server. Two application instances share each store's backend.
 */

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const HANDLE = /^[A-Za-z0-9_-]{22}$/;

let redis: RedisServer;
const tables: string[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
  await Promise.all(tables.map((t) => deleteTable(t)));
});

interface StoreKind {
  name: string;
  /** A store per instance, all on one backend (the memory store: one object both instances share). */
  backend(): Promise<() => Promise<SessionStateStore>>;
}

const STORES: StoreKind[] = [
  {
    name: 'memory',
    backend: async () => {
      const store = new InMemorySessionStateStore();
      return async () => store;
    },
  },
  {
    name: 'DynamoDB Local',
    backend: async () => {
      const tableName = uniqueTableName('owner-sessions');
      tables.push(tableName);
      const clientConfig = await localClientConfig();
      return async () => new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig });
    },
  },
  {
    name: 'Redis',
    backend: async () => {
      const keyPrefix = `os${randomBytes(4).toString('hex')}:`;
      return async () => new RedisSessionStateStore({ url: redis.url, keyPrefix });
    },
  },
];

interface Instance {
  app: INestApplication;
  url: string;
  gates: Gates;
  store: SessionStateStore;
}

describe.each(STORES)('sessions per user on $name', (kind) => {
  describe.each(ADAPTERS)('over %s', (adapter: AdapterName) => {
    const instances: Instance[] = [];
    const sockets: Socket[] = [];
    let newStore: () => Promise<SessionStateStore>;

    beforeAll(async () => {
      newStore = await kind.backend();
    });
    afterEach(async () => {
      sockets.splice(0).forEach((s) => s.close());
      for (const i of instances) i.gates.openAll();
      await Promise.all(instances.splice(0).map((i) => i.app.close()));
    });

    async function instance(options: SessionStateModuleOptions = {}): Promise<Instance> {
      const store = await newStore();
      const gates = new Gates();
      const app = await createTestApp(
        adapter,
        {
          imports: [SessionStateModule.forRoot({ store, recordClient: true, ...options })],
          controllers: [OwnerSessionsController],
          providers: [{ provide: Gates, useValue: gates }, CounterGateway],
        },
        (a) => a.useWebSocketAdapter(new IoAdapter(a)),
      );
      await app.listen(0, '127.0.0.1');
      const started = { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1'), gates, store };
      instances.push(started);
      return started;
    }

    /** Each test's users are its own (the backend outlives a test). */
    let users: Record<string, string>;
    beforeEach(() => {
      const run = randomBytes(4).toString('hex');
      users = { alice: `alice-${run}`, bob: `bob-${run}` };
    });

    /** Signs `user` in on `on` with that user agent: the device's cookie and its handle. */
    async function login(on: Instance, user: 'alice' | 'bob', userAgent = FIREFOX): Promise<{ cookie: string; handle: string }> {
      const res = await request(on.url).post(`/login/${users[user]}`).set('User-Agent', userAgent).expect(200);
      return { cookie: sessionCookie(res.headers)!, handle: res.body.handle };
    }

    /** Who the device is signed in as ('alice', 'bob'), or null. */
    const whoami = async (on: Instance, cookie: string) => {
      const user = (await request(on.url).get('/whoami').set('Cookie', cookie).expect(200)).body.user as string | null;
      return user === null ? null : user.split('-')[0];
    };
    const list = async (on: Instance, cookie: string) => (await request(on.url).get('/sessions').set('Cookie', cookie).expect(200)).body;

    it("lists the owner's sessions: opaque handles, which is current, creation, last activity, client; never an id, never another owner's", async () => {
      const [one, two] = [await instance(), await instance()];
      const before = Date.now();
      const laptop = await login(one, 'alice', FIREFOX);
      const desktop = await login(two, 'alice', CHROME);
      const bob = await login(one, 'bob');
      const res = await request(one.url).get('/sessions').set('Cookie', laptop.cookie).expect(200);
      for (const cookie of [laptop.cookie, desktop.cookie, bob.cookie]) expect(res.text).not.toContain(idOf(cookie));
      const sessions = res.body as { handle: string; current: boolean; created: string; lastActive: string; expires: string; client: unknown }[];
      expect(sessions.map((s) => [s.handle, s.current])).toEqual([
        [laptop.handle, true],
        [desktop.handle, false],
      ]);
      for (const s of sessions) {
        expect(s.handle).toMatch(HANDLE);
        expect(Date.parse(s.created)).toBeGreaterThanOrEqual(before);
        expect(Date.parse(s.lastActive)).toBeGreaterThanOrEqual(Date.parse(s.created) - 1000);
        expect(Date.parse(s.lastActive)).toBeLessThanOrEqual(Date.now());
        expect(Date.parse(s.expires)).toBeGreaterThan(Date.now() + 19 * 60_000);
      }
      expect(sessions[0]!.client).toEqual({ userAgent: 'Firefox 128 on Linux', address: expect.stringMatching(/127\.0\.0\.1/) });
      expect(sessions[1]!.client).toEqual({ userAgent: 'Chrome 126 on Windows', address: expect.stringMatching(/127\.0\.0\.1/) });
      // The same list from the other instance, where the other device is the current one.
      expect((await list(two, desktop.cookie)).map((s: { handle: string; current: boolean }) => [s.handle, s.current])).toEqual([
        [desktop.handle, true],
        [laptop.handle, false],
      ]);
      expect((await list(one, bob.cookie)).map((s: { handle: string }) => s.handle)).toEqual([bob.handle]);
    });

    it("signs out one device by handle; another owner's, a forged, a malformed or a stale handle get the same refusal", async () => {
      const [one, two] = [await instance(), await instance()];
      const laptop = await login(one, 'alice');
      const phone = await login(two, 'alice');
      const bob = await login(one, 'bob');
      const refusal = (await request(one.url).delete(`/sessions/${phone.handle}`).set('Cookie', bob.cookie).expect(404)).body;
      expect(await whoami(two, phone.cookie)).toBe('alice');
      for (const handle of ['A'.repeat(22), 'not-a-handle', idOf(phone.cookie)]) {
        expect((await request(one.url).delete(`/sessions/${handle}`).set('Cookie', laptop.cookie).expect(404)).body).toEqual(refusal);
      }
      expect(await whoami(two, phone.cookie)).toBe('alice');
      await request(one.url).delete(`/sessions/${phone.handle}`).set('Cookie', laptop.cookie).expect(204);
      expect(await whoami(two, phone.cookie)).toBeNull(); // its next request: a new, empty session
      expect((await request(two.url).delete(`/sessions/${phone.handle}`).set('Cookie', laptop.cookie).expect(404)).body).toEqual(refusal);
      expect((await list(one, laptop.cookie)).map((s: { handle: string }) => s.handle)).toEqual([laptop.handle]);
      expect(await whoami(one, bob.cookie)).toBe('bob');
    });

    it("the caller's own handle signs the caller out, from a read-only route too (the store removes it at once; it threw, a 500)", async () => {
      const [one, two] = [await instance(), await instance()];
      const laptop = await login(one, 'alice');
      const phone = await login(two, 'alice');
      await request(one.url).delete(`/read-only/sessions/${laptop.handle}`).set('Cookie', laptop.cookie).expect(204);
      expect(await whoami(two, laptop.cookie)).toBeNull();
      expect((await list(two, phone.cookie)).map((s: { handle: string }) => s.handle)).toEqual([phone.handle]);
      await request(two.url).delete(`/sessions/${phone.handle}`).set('Cookie', phone.cookie).expect(204);
      expect(await whoami(one, phone.cookie)).toBeNull();
    });

    it("signs out all others: the caller's session stays, the owner's others go, another owner's stay", async () => {
      const [one, two] = [await instance(), await instance()];
      const laptop = await login(one, 'alice');
      const others = [await login(two, 'alice'), await login(one, 'alice', CHROME)];
      const bob = await login(two, 'bob');
      expect((await request(one.url).post('/sessions/sign-out-others').set('Cookie', laptop.cookie).expect(200)).body).toEqual({ revoked: 2 });
      for (const other of others) expect(await whoami(two, other.cookie)).toBeNull();
      expect(await whoami(two, laptop.cookie)).toBe('alice');
      expect(await whoami(one, bob.cookie)).toBe('bob');
      expect((await list(two, laptop.cookie)).map((s: { current: boolean }) => s.current)).toEqual([true]);
    });

    it("revoked while another instance's request holds it: that request's save is refused (409), its next request gets a new session", async () => {
      const [one, two] = [await instance(), await instance()];
      const laptop = await login(one, 'alice');
      const phone = await login(two, 'alice');
      const held = request(two.url)
        .post('/hold')
        .set('Cookie', phone.cookie)
        .then((r) => r);
      await two.gates.arrived('hold');
      await request(one.url).delete(`/sessions/${phone.handle}`).set('Cookie', laptop.cookie).expect(204);
      two.gates.open('hold');
      const answer = await held;
      expect(answer.status).toBe(409);
      expect(sessionCookie(answer.headers)).toBeUndefined();
      expect(await whoami(two, phone.cookie)).toBeNull();
      const next = await request(two.url).post('/count').set('Cookie', phone.cookie).expect(200, { count: 1 });
      expect(idOf(sessionCookie(next.headers)!)).not.toBe(idOf(phone.cookie));
    });

    it('a WebSocket of a revoked session: its next message is refused with SessionStateEndedError, and nothing is written', async () => {
      const [one, two] = [await instance(), await instance()];
      const laptop = await login(one, 'alice');
      const phone = await login(two, 'alice');
      const socket = io(two.url, { transports: ['websocket'], extraHeaders: { Cookie: phone.cookie }, forceNew: true });
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => (socket.once('connect', resolve), socket.once('connect_error', reject)));
      expect(await socket.timeout(5000).emitWithAck('increment', {})).toBe(1);
      await request(one.url).delete(`/sessions/${phone.handle}`).set('Cookie', laptop.cookie).expect(204);
      const exception = new Promise<{ error: string; message: string }>((resolve) => socket.once('exception', resolve));
      socket.emit('increment', {});
      expect(await exception).toEqual({
        status: 'error',
        error: 'SessionStateEndedError',
        message: expect.stringMatching(/has ended.*Sign in again and reconnect/),
      });
      expect((await one.store.getItem(idOf(phone.cookie))).kind).toBe('absent');
    });

    it('absoluteTimeout: a session created longer ago is gone whatever its activity (removed on load), a younger one lives; login restarts the clock', async () => {
      const one = await instance({ absoluteTimeout: 60 });
      const [old, young] = [await login(one, 'alice'), await login(one, 'alice')];
      // Their creation moved back in time, as the store keeps it (the lifecycle wrote `created` at login).
      for (const [device, age] of [
        [old, 61],
        [young, 59],
      ] as const) {
        const id = idOf(device.cookie);
        const lock = await one.store.getItemExclusive(id);
        if (lock.kind !== 'acquired') throw new Error(`expected the lock, got ${lock.kind}`);
        expect(lock.item.created).toBeGreaterThan(Date.now() - 60_000);
        await one.store.setAndReleaseItemExclusive(id, { ...lock.item, created: Date.now() - age * 60_000 }, lock.lockId, false);
      }
      expect((await list(one, young.cookie)).map((s: { handle: string }) => s.handle)).toEqual([young.handle]);
      expect(await whoami(one, young.cookie)).toBe('alice');
      const gone = await request(one.url).post('/count').set('Cookie', old.cookie).expect(200, { count: 1 });
      expect(idOf(sessionCookie(gone.headers)!)).not.toBe(idOf(old.cookie));
      expect((await one.store.getItem(idOf(old.cookie))).kind).toBe('absent');
      // Signing in again (regenerateId) starts a new lifetime.
      const again = await request(one.url).post(`/login/${users.alice}`).set('Cookie', sessionCookie(gone.headers)!).expect(200);
      expect(await whoami(one, sessionCookie(again.headers)!)).toBe('alice');
    });
  });
});

describe.each(ADAPTERS)('absoluteTimeout costs no store call over %s', (adapter) => {
  it('a live session: one lock and one save, as without it; past it: the lock, its removal, and the new session', async () => {
    const { store, counter } = countingStore(new InMemorySessionStateStore());
    const gates = new Gates();
    const app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store, absoluteTimeout: 60 })],
      controllers: [OwnerSessionsController],
      providers: [{ provide: Gates, useValue: gates }],
    });
    try {
      const server = app.getHttpServer();
      const cookie = sessionCookie((await request(server).post('/count').expect(200)).headers)!;
      counter.reset();
      await request(server).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
      expect(counter.calls).toEqual({ getItemExclusive: 1, setAndReleaseItemExclusive: 1 });
      const lock = await store.getItemExclusive(idOf(cookie));
      if (lock.kind !== 'acquired') throw new Error(`expected the lock, got ${lock.kind}`);
      await store.setAndReleaseItemExclusive(idOf(cookie), { ...lock.item, created: Date.now() - 60 * 60_000 }, lock.lockId, false);
      counter.reset();
      await request(server).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
      expect(counter.calls).toEqual({ getItemExclusive: 1, removeItem: 1, setAndReleaseItemExclusive: 1 });
    } finally {
      await app.close();
    }
  });
});
