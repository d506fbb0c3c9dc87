import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateModule, type SessionStateStore, type SessionStateStoreData } from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { createTestApp } from '../support/test-app.js';
import { OwnerCapController } from './fixtures/owner-cap.controller.js';

/*
 * revoke-oldest over sessions signed in before the cap was enabled: a book the store makes from the
 * owner's sessions scores them all alike, and the order the store reads them in (Redis: by id;
 * DynamoDB: none) must not decide which goes. The oldest sign-in (`created`) goes first; a session
 * without `created` (stored before it existed) before any. Memory, DynamoDB Local and a real
 * redis-server; one adapter (the choice is the store's, not the adapter's).
 */

const tableName = uniqueTableName('owner-cap-oldest');
const HOUR = 60 * 60_000;
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
  await deleteTable(tableName);
});

const BACKENDS: { name: string; store: () => Promise<SessionStateStore> }[] = [
  { name: 'memory', store: async () => new InMemorySessionStateStore() },
  {
    name: 'DynamoDB Local',
    store: async () => new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() }),
  },
  { name: 'Redis', store: async () => new RedisSessionStateStore({ url: redis.url }) },
];

describe.each(BACKENDS)('revoke-oldest over sessions from before the cap on $name', (backend) => {
  let app: INestApplication;
  let store: SessionStateStore;

  beforeEach(async () => {
    store = await backend.store();
    app = await createTestApp('express', {
      imports: [SessionStateModule.forRoot({ store, maxSessionsPerOwner: 3, ownerCapPolicy: 'revoke-oldest' })],
      controllers: [OwnerCapController],
    });
  });
  afterEach(async () => {
    await app.close();
  });

  /**
   * Sessions of `owner` as an app without the cap stored them, `ages` ago (ms; undefined: no
   * `created`), in that order. Their ids sort the other way (the first the greatest), so that a
   * store reading them by id meets the newest first.
   */
  async function storedBefore(owner: string, ages: (number | undefined)[]): Promise<string[]> {
    const ids = ages
      .map(() => generateSessionId())
      .sort()
      .reverse();
    for (const [n, age] of ages.entries()) {
      const data: SessionStateStoreData = { items: '{}', timeout: 60, owner, ...(age === undefined ? {} : { created: Date.now() - age }) };
      await store.setAndReleaseItemExclusive(ids[n]!, data, null, true);
    }
    return ids;
  }

  const live = async (ids: string[]) => Promise.all(ids.map(async (id) => (await store.getItem(id)).kind === 'loaded'));
  const signIn = (owner: string) => request(app.getHttpServer()).post(`/login?user=${owner}`).expect(200);
  const newOwner = () => `ann-${randomBytes(4).toString('hex')}`;

  it('each new device revokes the oldest sign-in still there, never a newer one while an older survives', async () => {
    // Several owners: on DynamoDB a wrong order shows only some of the time.
    for (let n = 0; n < 3; n++) {
      const owner = newOwner();
      const [oldest, middle, newest] = await storedBefore(owner, [3 * HOUR, 2 * HOUR, HOUR]);
      await signIn(owner);
      expect({ owner, live: await live([oldest!, middle!, newest!]) }).toEqual({ owner, live: [false, true, true] });
      await signIn(owner);
      expect({ owner, live: await live([middle!, newest!]) }).toEqual({ owner, live: [false, true] });
    }
  });

  it('a session without a creation time (stored before it was recorded) counts as the oldest', async () => {
    const owner = newOwner();
    const [unstamped, older, newer] = await storedBefore(owner, [undefined, 2 * HOUR, HOUR]);
    await signIn(owner);
    expect(await live([unstamped!, older!, newer!])).toEqual([false, true, true]);
  });
});
