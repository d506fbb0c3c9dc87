import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createClient, type RedisClientType } from 'redis';
import { InMemorySessionStateStore, SessionStateModule, type OwnerCapPolicy, type SessionStateStore } from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { Gates } from '../support/gates.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { OwnerCapGapsController, ownerCapGates } from './fixtures/owner-cap-gaps.controller.js';
import { OwnerCapController } from './fixtures/owner-cap.controller.js';
import { idOf } from './session-app.js';

/*
 * maxSessionsPerOwner's closing gaps, on two app instances per backend (memory: two apps on one
 * store; DynamoDB Local and a real redis-server: a store object each), on Express and Fastify:
 * a session past absoluteTimeout frees its place; a login whose move lost its lock to a stale
 * break never leaves the owner over the cap; concurrent revoke-oldest sign-ins all get through and
 * end at exactly the cap; revocations give places back at once; sessions signed in before the cap
 * count; a book that went (store-side expiry) is made again from the owner's sessions.
 */

const tableName = uniqueTableName('owner-cap-gaps');
let redis: RedisServer;
let admin: RedisClientType;
beforeAll(async () => {
  redis = await startRedisServer();
  admin = createClient({ url: redis.url });
  await admin.connect();
});
afterAll(async () => {
  admin?.destroy();
  await redis?.stop();
  await deleteTable(tableName);
});

type Backend = 'memory' | 'dynamodb' | 'redis';
const BACKENDS: Backend[] = ['memory', 'dynamodb', 'redis'];

async function storesFor(backend: Backend): Promise<[SessionStateStore, SessionStateStore]> {
  if (backend === 'memory') {
    const shared = new InMemorySessionStateStore();
    return [shared, shared];
  }
  if (backend === 'dynamodb') {
    const clientConfig = await localClientConfig();
    const store = () => new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig });
    return [store(), store()];
  }
  const store = () => new RedisSessionStateStore({ url: redis.url });
  return [store(), store()];
}

interface Client {
  cookie?: string;
}

async function send(http: unknown, client: Client, method: 'get' | 'post', path: string): Promise<request.Response> {
  let req = request(http as never)[method](path);
  if (client.cookie) req = req.set('Cookie', client.cookie);
  const res = await req;
  const set = sessionCookie(res.headers);
  if (set !== undefined) client.cookie = idOf(set) === '' ? undefined : set;
  return res;
}

const idOfClient = (client: Client) => idOf(client.cookie ?? 'sid=');

describe.each(BACKENDS)('maxSessionsPerOwner gaps on %s', (backend) => {
  describe.each(ADAPTERS)('over %s', (adapter: AdapterName) => {
    const apps: INestApplication[] = [];
    let stores: [SessionStateStore, SessionStateStore];
    let a: unknown;
    let b: unknown;

    async function instances(max: number, policy: OwnerCapPolicy, extra: { absoluteTimeout?: number; executionTimeout?: number } = {}) {
      stores = await storesFor(backend);
      const servers: unknown[] = [];
      for (const store of stores) {
        const app = await createTestApp(adapter, {
          imports: [SessionStateModule.forRoot({ store, maxSessionsPerOwner: max, ownerCapPolicy: policy, ...extra })],
          controllers: [OwnerCapController, OwnerCapGapsController],
        });
        apps.push(app);
        servers.push(app.getHttpServer());
      }
      [a, b] = servers;
    }

    beforeEach(() => {
      ownerCapGates.current = new Gates();
    });
    afterEach(async () => {
      ownerCapGates.current.openAll();
      await Promise.all(apps.splice(0).map((app) => app.close()));
    });

    /** Which of `ids` are live sessions of `owner`, read from the store (public API); a lock left behind fails. */
    async function liveOf(owner: string, ids: Iterable<string>): Promise<string[]> {
      const live: string[] = [];
      for (const id of new Set(ids)) {
        if (id === '') continue;
        const read = await stores[0].getItem(id);
        if (read.kind === 'locked') throw new Error('a lock was left behind');
        if (read.kind === 'loaded' && read.item.owner === owner) live.push(id);
      }
      return live;
    }

    /** A session of `owner` written as an app without the cap (or before it was enabled) writes it. */
    async function storedWithoutCap(owner: string): Promise<string> {
      const id = generateSessionId();
      await stores[0].setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner, created: Date.now() }, null, true);
      return id;
    }

    const newOwner = () => `ann-${randomBytes(4).toString('hex')}`;

    it('refuse: a session past absoluteTimeout frees its place (the book drops it): another device signs in', async () => {
      await instances(1, 'refuse', { absoluteTimeout: 1 });
      const owner = newOwner();
      const old: Client = {};
      expect((await send(a, old, 'post', `/login?user=${owner}`)).status).toBe(200);
      // Its lifetime ran out (created set a minute back, through the store's API): its idle expiry is 20 minutes away.
      const held = await stores[0].getItemExclusive(idOfClient(old));
      if (held.kind !== 'acquired') throw new Error(`expected the session, got ${held.kind}`);
      await stores[0].setAndReleaseItemExclusive(idOfClient(old), { ...held.item, created: Date.now() - 61_000 }, held.lockId, false);
      expect((await send(b, old, 'get', '/me')).body.user).toBeNull();
      const other: Client = {};
      expect((await send(b, other, 'post', `/login?user=${owner}`)).status).toBe(200);
      expect(await liveOf(owner, [idOfClient(other)])).toEqual([idOfClient(other)]);
    });

    it("a login whose old id's lock was broken as stale is fenced out (409) and undone: the owner stays at the cap, its new place given back", async () => {
      await instances(1, 'refuse');
      const owner = newOwner();
      const client: Client = {};
      expect((await send(a, client, 'post', `/login?user=${owner}`)).status).toBe(200);
      const oldId = idOfClient(client);
      // Signs in again (a new id), held after the move was decided.
      const login = send(a, client, 'post', `/login-held?user=${owner}`);
      await ownerCapGates.current.arrived('login-held');
      // Another instance breaks the login's lock as stale (as its coordinator does past executionTimeout) and holds the session.
      const stuck = await stores[1].getItemExclusive(oldId);
      if (stuck.kind !== 'locked') throw new Error(`expected the login's lock, got ${stuck.kind}`);
      expect(await stores[1].releaseItemExclusive(oldId, stuck.lockId)).toBe(true);
      const breaker = await stores[1].getItemExclusive(oldId);
      if (breaker.kind !== 'acquired') throw new Error(`expected to take the lock, got ${breaker.kind}`);
      ownerCapGates.current.open('login-held');
      // Fenced out like any save whose lock was broken: the move is undone, the client keeps its old cookie.
      expect((await login).status).toBe(409);
      expect(idOfClient(client)).toBe(oldId);
      // The request that broke the lock saves: what it holds is the session.
      await stores[1].setAndReleaseItemExclusive(oldId, breaker.item, breaker.lockId, false);
      expect(await liveOf(owner, [oldId])).toEqual([oldId]);
      expect((await send(b, client, 'get', '/me')).body.user).toBe(owner);
      // The undone move's place was given back: once the old session signs out, another device gets in (cap 1, refuse).
      expect((await send(a, client, 'post', '/logout')).status).toBe(200);
      const other: Client = {};
      expect((await send(b, other, 'post', `/login?user=${owner}`)).status).toBe(200);
      expect(await liveOf(owner, [oldId, idOfClient(other)])).toEqual([idOfClient(other)]);
    });

    it('revoke-oldest: 32 concurrent sign-ins of one owner on two instances all get through and end at exactly the cap', async () => {
      await instances(2, 'revoke-oldest');
      const owner = newOwner();
      const clients: Client[] = Array.from({ length: 32 }, () => ({}));
      const answers = await Promise.all(clients.map((c, i) => send(i % 2 ? b : a, c, 'post', `/login?user=${owner}`)));
      expect(answers.map((r) => r.status)).toEqual(clients.map(() => 200));
      const ids = clients.map(idOfClient);
      const live = await liveOf(owner, ids);
      expect(live).toHaveLength(2);
      // Every other one was signed in (200) and then revoked by a sign-in that came after it: gone, not locked.
      for (const id of ids.filter((id) => !live.includes(id))) expect((await stores[0].getItem(id)).kind).toBe('absent');
    });

    it('revokeOwner, SessionManager.revoke and revokeOthers give the places back at once', async () => {
      await instances(2, 'refuse');
      const owner = newOwner();
      const [one, two, three, four]: Client[] = [{}, {}, {}, {}];
      expect((await send(a, one!, 'post', `/login?user=${owner}`)).status).toBe(200);
      expect((await send(b, two!, 'post', `/login?user=${owner}`)).status).toBe(200);
      expect((await send(a, three!, 'post', `/login?user=${owner}`)).status).toBe(409);
      // Sign out everywhere, from the other instance: both places are free now (not after executionTimeout).
      expect((await send(b, {}, 'post', `/revoke-owner?user=${owner}`)).body.revoked).toBe(2);
      expect((await send(a, three!, 'post', `/login?user=${owner}`)).status).toBe(200);
      expect((await send(b, four!, 'post', `/login?user=${owner}`)).status).toBe(200);
      // Sign out one device by its handle: its place is free at once.
      const handles = (await send(a, three!, 'get', '/handles')).body as { handle: string; current: boolean }[];
      const fourth = handles.find((h) => !h.current)!.handle;
      expect((await send(b, three!, 'post', `/revoke?handle=${fourth}`)).body.revoked).toBe(true);
      expect((await send(a, one!, 'post', `/login?user=${owner}`)).status).toBe(200);
      // Sign out all others: the same.
      expect((await send(b, one!, 'post', '/revoke-others')).body.revoked).toBe(1);
      expect((await send(a, two!, 'post', `/login?user=${owner}`)).status).toBe(200);
      expect((await liveOf(owner, [one, two, three, four].map(idOfClient))).sort()).toEqual([idOfClient(one!), idOfClient(two!)].sort());
    });

    it('sessions signed in before the cap was enabled count: refused over the cap; revoke-oldest revokes them first', async () => {
      await instances(2, 'refuse');
      const owner = newOwner();
      const before = [await storedWithoutCap(owner), await storedWithoutCap(owner)];
      const client: Client = {};
      expect((await send(a, client, 'post', `/login?user=${owner}`)).status).toBe(409);
      expect(await liveOf(owner, before)).toHaveLength(2);

      await Promise.all(apps.splice(0).map((app) => app.close()));
      await instances(2, 'revoke-oldest');
      const other = newOwner();
      const earlier = [await storedWithoutCap(other), await storedWithoutCap(other), await storedWithoutCap(other)];
      const [x, y]: Client[] = [{}, {}];
      expect((await send(a, x!, 'post', `/login?user=${other}`)).status).toBe(200);
      expect((await send(b, y!, 'post', `/login?user=${other}`)).status).toBe(200);
      expect((await liveOf(other, [...earlier, idOfClient(x!), idOfClient(y!)])).sort()).toEqual([idOfClient(x!), idOfClient(y!)].sort());
    });
  });
});
