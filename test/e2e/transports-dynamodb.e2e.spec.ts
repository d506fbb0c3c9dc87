import type { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { io } from 'socket.io-client';
import request from 'supertest';
import { SessionStateModule } from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { countDynamoDBCalls, type DynamoDBCallCounter } from '../support/counting-middleware.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { CounterGateway } from './fixtures/counter.gateway.js';
import { AccessorGuard, CounterResolver, ProfileResolver } from './fixtures/graphql-counter.resolver.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { GRAPHQL_SERVER, gql, graphqlModule } from './graphql-app.js';
import { idOf } from './session-app.js';
import { flat } from '../../src/testing/flat-store-answer.js';

const tableName = uniqueTableName('transports');
afterAll(() => deleteTable(tableName));

describe.each(ADAPTERS)('GraphQL and WebSocket sessions on DynamoDB Local over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  let app: INestApplication;
  let url: string;
  let dynamodb: DynamoDBCallCounter;
  let counter: StoreCallCounter;
  let raw: DynamoDBSessionStateStore;
  beforeAll(async () => {
    const dynamo = (raw = new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() }));
    dynamodb = countDynamoDBCalls(dynamo.client);
    const counting = countingStore(dynamo);
    counter = counting.counter;
    app = await createTestApp(
      adapter,
      {
        imports: [SessionStateModule.forRoot({ store: counting.store }), graphqlModule(adapter)],
        controllers: [SessionTestController],
        providers: [{ provide: Gates, useValue: new Gates() }, CounterResolver, ProfileResolver, AccessorGuard, CounterGateway],
      },
      (app) => app.useWebSocketAdapter(new IoAdapter(app)),
    );
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(() => app.close());

  const seeded = async () => sessionCookie((await gql(url, { query: 'mutation { increment }' })).headers)!;
  const counterOf = async (cookie: string) => (await gql(url, { query: '{ counter }' }, cookie)).body.data.counter;

  it(`(${server}) 50 concurrent increment mutations on one session end at exactly 50`, async () => {
    const cookie = await seeded();
    const responses = await Promise.all(Array.from({ length: 49 }, () => gql(url, { query: 'mutation { increment }' }, cookie)));
    expect(responses.every((r) => r.status === 200 && !r.body.errors)).toBe(true);
    expect(await counterOf(cookie)).toBe(50);
  });

  it(`(${server}) the session is saved before the response is sent: the table holds the write when the answer arrives`, async () => {
    const cookie = await seeded();
    for (let expected = 2; expected <= 4; expected++) {
      expect((await gql(url, { query: 'mutation { increment }' }, cookie)).body).toEqual({ data: { increment: expected } });
      const stored = flat(await raw.getItem(idOf(cookie)));
      expect(JSON.parse(stored.item!.items)).toMatchObject({ count: expected });
    }
  });

  it(`(${server}) a query costs one GetItem and no lock; a batch acquires once and saves once`, async () => {
    const cookie = await seeded();
    dynamodb.reset();
    expect((await gql(url, { query: '{ a: counter b: counter profile { visits } }' }, cookie)).body).toEqual({
      data: { a: 1, b: 1, profile: { visits: 1 } },
    });
    expect(dynamodb.byCommand()).toEqual({ GetItem: 1 });
    counter.reset();
    await gql(url, [{ query: '{ counter }' }, { query: 'mutation { increment }' }, { query: 'mutation { increment }' }], cookie);
    expect(counter.calls).toEqual({ getItemExclusive: 1, setAndReleaseItemExclusive: 1 });
    expect(await counterOf(cookie)).toBe(3);
  });

  it('socket.io messages and HTTP requests of one session: 50 concurrent increments by both ways end at exactly 50', async () => {
    const cookie = sessionCookie((await request(url).post('/seed').expect(200)).headers)!;
    const socket = io(url, { transports: ['websocket'], extraHeaders: { Cookie: cookie }, forceNew: true });
    try {
      const sends = Array.from({ length: 50 }, (_, i) =>
        i % 2 ? socket.timeout(10_000).emitWithAck('increment', {}) : request(url).post('/count').set('Cookie', cookie).expect(200),
      );
      await Promise.all(sends);
      expect(await socket.timeout(5000).emitWithAck('counter', {})).toBe(50);
    } finally {
      socket.close();
    }
  });
});
