import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateModule, type OwnerCapPolicy, type SessionStateStore } from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { prng } from '../support/prng.js';
import { countDynamoDBCalls } from '../support/counting-middleware.js';
import { scriptsDuring } from '../support/redis-test-helpers.js';
import { createClient, type RedisClientType } from 'redis';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { OwnerCapController } from './fixtures/owner-cap.controller.js';
import { idOf } from './session-app.js';

/*
 * maxSessionsPerOwner across two app instances (each with its own store object and client, as two
 * processes would have; in memory, two apps on one store), on Express and Fastify: the cap holds
 * for concurrent sign-ins of one owner, with either policy, and a refused sign-in saves nothing.
 */

const tableName = uniqueTableName('owner-cap');
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

/** Stores for two instances of one backend (memory: one store, shared by both apps). */
async function storesFor(backend: Backend, maxItemBytes?: number): Promise<[SessionStateStore, SessionStateStore]> {
  if (backend === 'memory') {
    const shared = new InMemorySessionStateStore();
    return [shared, shared];
  }
  if (backend === 'dynamodb') {
    const config = await localClientConfig();
    const store = () => new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: config, maxItemBytes, compression: false });
    return [store(), store()];
  }
  const store = () => new RedisSessionStateStore({ url: redis.url, maxItemBytes, compression: false });
  return [store(), store()];
}

interface Instance {
  app: INestApplication;
  http: unknown;
  counter: StoreCallCounter;
}

/** A browser: its current session cookie. */
interface Client {
  cookie?: string;
}

/** Sends a request as `client`, keeping the cookie the answer sets (a cleared one forgets it). */
async function send(instance: Instance, client: Client, method: 'get' | 'post', path: string): Promise<request.Response> {
  let req = request(instance.http as never)[method](path);
  if (client.cookie) req = req.set('Cookie', client.cookie);
  const res = await req;
  const set = sessionCookie(res.headers);
  if (set !== undefined) client.cookie = idOf(set) === '' ? undefined : set;
  return res;
}

describe.each(BACKENDS)('maxSessionsPerOwner on %s', (backend) => {
  describe.each(ADAPTERS)('over %s', (adapter: AdapterName) => {
    const apps: INestApplication[] = [];
    let stores: [SessionStateStore, SessionStateStore];

    /** Two instances under the same cap. */
    async function instances(max: number, policy: OwnerCapPolicy, maxItemBytes?: number): Promise<[Instance, Instance]> {
      stores = await storesFor(backend, maxItemBytes);
      const started: Instance[] = [];
      for (const raw of stores) {
        const { store, counter } = countingStore(raw);
        const app = await createTestApp(adapter, {
          imports: [SessionStateModule.forRoot({ store, maxSessionsPerOwner: max, ownerCapPolicy: policy })],
          controllers: [OwnerCapController],
        });
        apps.push(app);
        started.push({ app, http: app.getHttpServer(), counter });
      }
      return started as [Instance, Instance];
    }

    afterEach(async () => {
      // Both instances of the memory backend share one store: closing the second app closes it again (idempotent).
      await Promise.all(apps.splice(0).map((a) => a.close()));
    });

    /** The owner's live sessions, read from the store itself (public API) for every id a client ever held. */
    async function liveOf(owner: string, ids: Iterable<string>): Promise<string[]> {
      const live: string[] = [];
      for (const id of new Set(ids)) {
        if (id === '') continue;
        const read = await stores[0].getItem(id);
        if (read.kind === 'loaded' && read.item.owner === owner) live.push(id);
        if (read.kind === 'locked') throw new Error('a lock was left behind');
      }
      return live;
    }

    const newOwner = () => `ann-${randomBytes(4).toString('hex')}`;

    it('revoke-oldest: the third sign-in revokes the first, on the other instance', async () => {
      const [a, b] = await instances(2, 'revoke-oldest');
      const owner = newOwner();
      const clients: Client[] = [{}, {}, {}];
      for (const [i, client] of clients.entries()) {
        expect((await send(i % 2 ? b : a, client, 'post', `/login?user=${owner}`)).status).toBe(200);
      }
      expect((await send(b, clients[0]!, 'get', '/me')).body.user).toBeNull();
      expect((await send(a, clients[1]!, 'get', '/me')).body.user).toBe(owner);
      expect((await send(b, clients[2]!, 'get', '/me')).body.user).toBe(owner);
    });

    it('refuse: a sign-in over the cap answers 409 with the clear error and saves nothing; after a sign-out it goes through', async () => {
      const [a, b] = await instances(2, 'refuse');
      const owner = newOwner();
      const [one, two, three]: Client[] = [{}, {}, {}];
      expect((await send(a, one!, 'post', `/login?user=${owner}`)).status).toBe(200);
      expect((await send(b, two!, 'post', `/login?user=${owner}`)).status).toBe(200);
      await send(a, three!, 'post', '/note');
      const before = three!.cookie;
      const refused = await send(b, three!, 'post', `/login?user=${owner}`);
      expect(refused.status).toBe(409);
      expect(refused.body.message).toBe('Signed in on too many devices: at most 2 sessions at once. Sign out of another session first.');
      expect(sessionCookie(refused.headers)).toBeUndefined();
      expect(three!.cookie).toBe(before);
      // Its session is as it was: not signed in, its data kept, not locked.
      expect((await send(a, three!, 'get', '/me')).body).toEqual({ user: null, note: 'kept' });
      // A sign-in without a new id is capped the same.
      expect((await send(a, three!, 'post', `/login-in-place?user=${owner}`)).status).toBe(409);
      expect((await send(b, three!, 'get', '/me')).body).toEqual({ user: null, note: 'kept' });
      // One device signs out: the place is free at once.
      expect((await send(b, one!, 'post', '/logout')).status).toBe(200);
      expect((await send(a, three!, 'post', `/login?user=${owner}`)).status).toBe(200);
      expect((await send(b, three!, 'get', '/me')).body).toEqual({ user: owner, note: 'kept' });
      expect((await send(a, two!, 'get', '/me')).body.user).toBe(owner);
    });

    it.skipIf(backend === 'memory')('a sign-in whose save fails (too large: 413) gives its place back: the next sign-in is not refused', async () => {
      const [a, b] = await instances(1, 'refuse', 10_000);
      const owner = newOwner();
      const client: Client = {};
      const failed = await send(a, client, 'post', `/login-big?user=${owner}`);
      expect(failed.status).toBe(413);
      expect(client.cookie).toBeUndefined();
      // Had the place been kept, it would count as a save under way for executionTimeout (110 s): a 409 here.
      expect((await send(b, client, 'post', `/login?user=${owner}`)).status).toBe(200);
      expect((await send(a, {}, 'post', `/login?user=${owner}`)).status).toBe(409);
    });

    it('a sign-in under the cap adds one claim (DynamoDB: one UpdateItem; Redis: one script); other requests none', async () => {
      const [a] = await instances(3, 'refuse');
      const raw = stores[0];
      const claims = vi.spyOn(raw, 'claimOwnerSlot' as never);
      const releases = vi.spyOn(raw, 'releaseOwnerSlot' as never);
      const owner = newOwner();
      const first: Client = {};
      const second: Client = {};
      await send(a, first, 'post', `/login?user=${owner}`); // the owner's first: its book is made
      await send(a, second, 'post', '/note');
      const dynamodb = raw instanceof DynamoDBSessionStateStore ? countDynamoDBCalls(raw.client) : undefined;
      const scripts =
        raw instanceof RedisSessionStateStore ? () => scriptsDuring(admin, () => send(a, second, 'post', `/login?user=${owner}`)) : undefined;
      a.counter.reset();
      if (scripts) {
        // getItemExclusive, the claim, the save, the owner index, the old id's removal: five scripts; and two
        // registrations of the owner for the sweep (the claim's and the index's), each sent beside its script.
        expect(await scripts()).toEqual({ evalsha: 7 });
      } else await send(a, second, 'post', `/login?user=${owner}`);
      expect(claims).toHaveBeenCalledTimes(2);
      if (scripts) {
        // Neither the book nor the owner index has a TTL (no volatile-* policy evicts them); the sweep deletes both together.
        expect(await admin.pTTL(`sess:owner:{${owner}}:cap`)).toBe(-1);
        expect(await admin.pTTL(`sess:owner:{${owner}}`)).toBe(-1);
      }
      expect(a.counter.calls).toEqual({ getItemExclusive: 1, setAndReleaseItemExclusive: 1, removeItem: 1 });
      if (dynamodb) {
        // The lock, the claim, the old id's removal (an expired stub): UpdateItems; the new id's record: a PutItem.
        // Without the cap: the same less the claim.
        expect(dynamodb.byCommand()).toEqual({ UpdateItem: 3, PutItem: 1 });
        dynamodb.reset();
      }
      for (let i = 0; i < 3; i++) {
        await send(a, second, 'post', '/note');
        await send(a, second, 'get', '/me');
      }
      expect(claims).toHaveBeenCalledTimes(2);
      expect(releases).not.toHaveBeenCalled();
      if (dynamodb) {
        // Per write the lock and its release, per read one GetItem: nothing of the owner's book.
        expect(dynamodb.byCommand()).toEqual({ UpdateItem: 6, GetItem: 3 });
        dynamodb.detach();
      }
    });

    it.each(['refuse', 'revoke-oldest'] as const)(
      '%s: 12 concurrent sign-ins of one owner on two instances end at most at the cap',
      async (policy) => {
        const [a, b] = await instances(3, policy);
        const owner = newOwner();
        const clients: Client[] = Array.from({ length: 12 }, () => ({}));
        const answers = await Promise.all(clients.map((c, i) => send(i % 2 ? b : a, c, 'post', `/login?user=${owner}`)));
        const statuses = answers.map((r) => r.status);
        expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
        const live = await liveOf(
          owner,
          clients.map((c) => idOf(c.cookie ?? 'sid=')),
        );
        expect(live.length).toBeLessThanOrEqual(3);
        if (policy === 'refuse') {
          // Nobody over the cap got a 2xx: every 200 is a live session of the owner.
          const admitted = clients.filter((_, i) => statuses[i] === 200).map((c) => idOf(c.cookie!));
          expect(admitted.length).toBeLessThanOrEqual(3);
          expect(live.sort()).toEqual(admitted.sort());
          expect(admitted.length).toBe(3);
        } else {
          // Every sign-in gets through, each revoking only what it needs: the owner ends exactly at the cap.
          expect(statuses).toEqual(clients.map(() => 200));
          expect(live).toHaveLength(3);
        }
      },
    );

    it.each(['refuse', 'revoke-oldest'] as const)(
      '%s: a seeded random run of sign-ins, sign-outs and writes never ends a round over the cap',
      async (policy) => {
        const seed = Number(process.env.OWNER_CAP_SEED ?? 20_26);
        const random = prng(seed + (policy === 'refuse' ? 0 : 1));
        const [a, b] = await instances(2, policy);
        const owners = [newOwner(), newOwner()];
        const clients: Client[] = Array.from({ length: 8 }, () => ({}));
        const everHeld = new Set<string>();
        for (let round = 0; round < 12; round++) {
          // Each client does at most one thing per round; the round's requests run at once, on either instance.
          const ops = clients.flatMap((client, i) => {
            const roll = random();
            if (roll < 0.25) return [];
            const instance = random() < 0.5 ? a : b;
            const owner = owners[Math.floor(random() * owners.length)]!;
            const op = roll < 0.7 ? `/login?user=${owner}` : roll < 0.85 ? '/logout' : '/note';
            return [{ i, client, instance, op, owner }];
          });
          const answers = await Promise.all(ops.map((o) => send(o.instance, o.client, 'post', o.op)));
          for (const c of clients) if (c.cookie) everHeld.add(idOf(c.cookie));
          for (const [k, res] of answers.entries()) {
            // A refusal is the cap's 409, or the other 409 (a session this client held was revoked under it).
            expect([200, 409], `seed ${seed}, round ${round}, ${ops[k]!.op}`).toContain(res.status);
          }
          for (const owner of owners) {
            const live = await liveOf(owner, everHeld);
            expect(live.length, `seed ${seed}, round ${round}: live sessions of an owner`).toBeLessThanOrEqual(2);
            if (policy === 'refuse') {
              // Nothing revokes under 'refuse': every sign-in answered 200 this round is live now.
              for (const [k, o] of ops.entries()) {
                if (o.op === `/login?user=${owner}` && answers[k]!.status === 200) expect(live).toContain(idOf(o.client.cookie!));
              }
            }
          }
        }
      },
    );
  });
});
