import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { randomBytes } from 'node:crypto';
import { InMemorySessionStateStore, SessionStateModule, type SessionStateStore, type SessionStateStoreData } from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { OwnerSessionsController } from './fixtures/owner-sessions.controller.js';

/*
 * maxSessionsPerOwner while a device of the owner signs in again (regenerateId of an owned session):
 * the move's claim keeps the old id's entry beside the new one until the move's save ends, and the
 * book records the pair, so another sign-in meanwhile counts that device once (review 3 found it
 * counted twice: a revoke-oldest sign-in revoked both devices, a refuse re-login was refused).
 * Memory, a real redis-server and DynamoDB Local; Express and Fastify. The re-login's store write is
 * held (a wrapper on the store's next insert) so that the other sign-in lands during it every time.
 */

/** Arms one pause on `store`: its next insert of a new record waits for `until` (a slow store write). Answers when it is reached. */
function slowNextInsert(store: SessionStateStore, until: Promise<void>): Promise<void> {
  const original = store.setAndReleaseItemExclusive.bind(store);
  return new Promise((arrived) => {
    store.setAndReleaseItemExclusive = async (id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean) => {
      if (newItem) {
        store.setAndReleaseItemExclusive = original;
        arrived();
        await until;
      }
      return original(id, item, lockId, newItem);
    };
  });
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
  await Promise.all(tables.map((t) => deleteTable(t)));
});
const tables: string[] = [];

const STORES: { name: string; make(): Promise<SessionStateStore> }[] = [
  { name: 'memory', make: async () => new InMemorySessionStateStore() },
  { name: 'Redis', make: async () => new RedisSessionStateStore({ url: redis.url, keyPrefix: `relogin${randomBytes(4).toString('hex')}:` }) },
  {
    name: 'DynamoDB Local',
    make: async () => {
      const tableName = uniqueTableName('owner-cap-relogin');
      tables.push(tableName);
      return new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() });
    },
  },
];

describe.each(STORES)('maxSessionsPerOwner while a device of the owner signs in again, on $name', ({ make }) => {
  describe.each(ADAPTERS)('over %s', (adapter) => {
    let app: INestApplication | undefined;
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    /** An app with a cap of 2 under `policy`, its store, and a sign-in of one new user (with a device's cookie: again). */
    async function start(policy: 'refuse' | 'revoke-oldest') {
      const store = await make();
      app = await createTestApp(adapter, {
        imports: [SessionStateModule.forRoot({ store, maxSessionsPerOwner: 2, ownerCapPolicy: policy })],
        controllers: [OwnerSessionsController],
        providers: [{ provide: Gates, useValue: new Gates() }],
      });
      const http = app.getHttpServer();
      const user = `alice-${randomBytes(4).toString('hex')}`;
      const login = (cookie?: string) => {
        const req = request(http).post(`/login/${user}`);
        return (cookie ? req.set('Cookie', cookie) : req).then((r) => r);
      };
      return { store, http, user, login };
    }

    it('refuse, cap 2: device B signing in again while device A does is not refused (both are already counted)', async () => {
      const { store, login } = await start('refuse');
      const a = sessionCookie((await login()).headers)!;
      const b = sessionCookie((await login()).headers)!;
      let land = () => {};
      const parked = slowNextInsert(store, new Promise<void>((resolve) => (land = resolve)));
      const aAgain = login(a);
      await parked;
      const bAgain = await login(b);
      land();
      expect({ a: (await aAgain).status, b: bAgain.status, bMessage: bAgain.body.message }).toEqual({ a: 200, b: 200, bMessage: undefined });
    });

    it('revoke-oldest, cap 2: a sign-in during the other device’s re-login revokes one session, and the re-login gets through', async () => {
      const { store, http, user, login } = await start('revoke-oldest');
      const a = sessionCookie((await login()).headers)!;
      const b = sessionCookie((await login()).headers)!;

      // Device A signs in again (regenerateId): its write under the new id is slow.
      const releases = vi.spyOn(store, 'releaseOwnerSlot');
      let land = () => {};
      const parked = slowNextInsert(store, new Promise<void>((resolve) => (land = resolve)));
      const relogin = login(a);
      await parked;
      // Meanwhile device C signs in.
      const c = await login();
      expect(c.status).toBe(200);
      land();
      const moved = await relogin;

      const signedIn = async (cookie: string) => (await request(http).get('/whoami').set('Cookie', cookie).expect(200)).body.user === user;
      const devices = {
        a: moved.status === 200 && (await signedIn(sessionCookie(moved.headers)!)),
        b: await signedIn(b),
        c: await signedIn(sessionCookie(c.headers)!),
      };
      // The owner had two devices and a third signed in: one goes (the oldest, B), A's re-login and C stay.
      expect({ reloginStatus: moved.status, devices }).toEqual({ reloginStatus: 200, devices: { a: true, b: false, c: true } });
      // The move done, its old id's place is given back naming the new id: the book's record of the move is settled.
      expect(releases.mock.calls).toEqual([[user, expect.any(String), expect.any(String)]]);
    });
  });
});
