import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { InMemorySessionStateStore, SessionStateStoreUnavailableError, type SessionStateStore, type SessionStateStoreData } from '../../src/index.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { sessionCookie } from '../support/test-app.js';
import { configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';

/** A store written before `setItemExclusive` existed (the in-memory store's other methods): passport's save() waits for the end of the request. */
function storeWithoutMidRequestSave(): SessionStateStore {
  const store = new InMemorySessionStateStore();
  Object.defineProperty(store, 'setItemExclusive', { value: undefined });
  return store;
}

/** The in-memory store whose next mid-request save finds the backend unreachable (a fault a real in-memory store cannot produce). */
class FailingSaveStore extends InMemorySessionStateStore {
  failNext = false;
  override async setItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<string> {
    if (this.failNext) {
      this.failNext = false;
      throw new SessionStateStoreUnavailableError('the backend did not answer');
    }
    return super.setItemExclusive(id, item, lockId, newItem);
  }
}

async function passportApp(store: SessionStateStore): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(store)] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await configureExpressPassport(app);
  await app.init();
  return app;
}

describe('passport logins on every kind of store', () => {
  const tableName = uniqueTableName('passport');
  const apps: INestApplication[] = [];
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await deleteTable(tableName);
  });

  const cases: [string, () => Promise<SessionStateStore>][] = [
    [
      'DynamoDB (setItemExclusive on a real table)',
      async () => new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() }),
    ],
    ['a store without setItemExclusive', async () => storeWithoutMidRequestSave()],
  ];

  it.each(cases)('%s: login (plain and redirecting), 20 concurrent writes → 20, logout', async (_name, makeStore) => {
    const app = await passportApp(await makeStore());
    apps.push(app);
    const http = () => request(app.getHttpServer());
    const anonymous = sessionCookie(
      (
        await http()
          .post('/api/set')
          .send({ cart: ['a'] })
          .expect(200)
      ).headers,
    )!;
    const login = await http().post('/login').set('Cookie', anonymous).send({ username: 'john', password: 'changeme' }).expect(200);
    const cookie = sessionCookie(login.headers)!;
    expect(cookie).not.toBe(anonymous);
    await http().get('/me').set('Cookie', anonymous).expect(403);
    await http()
      .get('/me')
      .set('Cookie', cookie)
      .expect(200, { user: { id: 1, username: 'john' } });
    const redirected = await http().post('/login-redirect').send({ username: 'maria', password: 'guess' }).expect(302);
    await http()
      .get('/me')
      .set('Cookie', sessionCookie(redirected.headers)!)
      .expect(200, { user: { id: 2, username: 'maria' } });
    const answers = await Promise.all(Array.from({ length: 20 }, () => http().post('/count').set('Cookie', cookie)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    await http()
      .get('/api/get')
      .set('Cookie', cookie)
      .expect(200)
      .expect((r) => expect(r.body.data.count).toBe(20));
    await http().post('/logout').set('Cookie', cookie).expect(200);
    await http().get('/me').set('Cookie', cookie).expect(403);
  });

  it("a store that fails during passport's save(): 503, the old session intact, no lock left behind", async () => {
    const store = new FailingSaveStore();
    const app = await passportApp(store);
    apps.push(app);
    const http = () => request(app.getHttpServer());
    const anonymous = sessionCookie(
      (
        await http()
          .post('/api/set')
          .send({ cart: ['a'] })
          .expect(200)
      ).headers,
    )!;
    store.failNext = true;
    const failed = await http().post('/login').set('Cookie', anonymous).send({ username: 'john', password: 'changeme' }).expect(503);
    expect(sessionCookie(failed.headers)).toBeUndefined();
    // Not locked: a write goes through at once, on the data as they were.
    await http().post('/api/set').set('Cookie', anonymous).send({ b: 1 }).expect(200);
    await http()
      .get('/api/get')
      .set('Cookie', anonymous)
      .expect(200)
      .expect((r) => expect(r.body.data).toEqual({ cart: ['a'], b: 1 }));
    await http().post('/login').set('Cookie', anonymous).send({ username: 'john', password: 'changeme' }).expect(200);
  });
});
