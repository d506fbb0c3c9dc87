import { DynamoDBClient, GetItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { Body, Controller, Get, HttpCode, Post, type INestApplication } from '@nestjs/common';
import { createClient, type RedisClientType } from 'redis';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateModule, type SessionStateStore } from '../../src/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { createTestApp, sessionCookie } from '../support/test-app.js';

// Records put in the store by hand or by a foreign writer that are not a session as this module
// writes it are unreadable (ERRORS.md, SessionStateCorruptError: a new session), never read as one:
// - items that are JSON but not an object (`"abc"`, `[1,2]`) read as `{"0":"a",…}`, and the next
//   write stored that over the record;
// - on DynamoDB, a `Timeout` of 0 or below (Redis refused it already) loaded, and a write answered
//   200 was saved expiring at once: the next request found nothing.
type Loose = HttpSessionState & { set(key: string, value: unknown): unknown; get(key: string): unknown };

@Controller('foreign')
class ForeignController {
  @Post('put')
  @HttpCode(200)
  put(@Session() s: HttpSessionState, @Body() body: Record<string, unknown>) {
    for (const [key, value] of Object.entries(body ?? {})) (s as Loose).set(key, value);
    return { keys: s.keys() };
  }

  @Get('all')
  all(@Session() s: HttpSessionState) {
    return { items: Object.fromEntries(s.keys().map((k) => [k, (s as Loose).get(k)])) };
  }
}

const table = await useDynamoDBTable('foreignrecords');
let server: RedisServer;
let admin: RedisClientType;
let dynamo: DynamoDBClient;
const apps: INestApplication[] = [];
beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  await admin.connect();
  dynamo = new DynamoDBClient(table.clientConfig);
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});
afterAll(async () => {
  dynamo?.destroy();
  admin?.destroy();
  await server?.stop();
});

let n = 0;
const newId = () => `foreign${String(n++).padStart(25, '0')}`;
const future = () => String(Date.now() + 600_000);

async function startApp(store: SessionStateStore) {
  const app = await createTestApp('express', { imports: [SessionStateModule.forRoot({ store })], controllers: [ForeignController] });
  apps.push(app);
  return app.getHttpServer();
}

/** A DynamoDB lock item as the store writes it, unlocked, with `extra` over its attributes. */
async function putRecord(id: string, extra: Record<string, AttributeValue>) {
  const item: Record<string, AttributeValue> = {
    SessionId: { S: id },
    Locked: { BOOL: false },
    Expires: { N: future() },
    Timeout: { N: '20' },
    TimeoutMs: { N: '1200000' },
    TimeoutSeconds: { N: '1200' },
    Version: { N: '1' },
    TTL: { N: String(Math.ceil(Date.now() / 1000) + 3600) },
    ...extra,
  };
  await dynamo.send(new PutItemCommand({ TableName: table.tableName, Item: item }));
}

async function storedItems(id: string) {
  const key = { SessionId: { S: id } };
  return (await dynamo.send(new GetItemCommand({ TableName: table.tableName, Key: key, ConsistentRead: true }))).Item?.Items?.S;
}

describe('records that are not sessions', () => {
  it('Redis: items that are JSON but not an object are unreadable: a new session, the record left as it was', async () => {
    const http = await startApp(new RedisSessionStateStore({ url: server.url }));
    const id = newId();
    const key = `sess:{${id}}`;
    await admin.hSet(key, { v: '1', e: future(), t: '20', i: '"abc"' });
    await request(http).get('/foreign/all').set('Cookie', `sid=${id}`).expect(200, { items: {} });
    const write = await request(http).post('/foreign/put').set('Cookie', `sid=${id}`).send({ x: 1 }).expect(200);
    expect(sessionCookie(write.headers)).toBeDefined();
    expect(sessionCookie(write.headers)).not.toBe(`sid=${id}`);
    expect(await admin.hGet(key, 'i')).toBe('"abc"');
  });

  it('DynamoDB: items that are JSON but not an object are unreadable: a new session, the record left as it was', async () => {
    const http = await startApp(table.createStore());
    const id = newId();
    await putRecord(id, { Items: { S: '[1,2]' } });
    await request(http).get('/foreign/all').set('Cookie', `sid=${id}`).expect(200, { items: {} });
    const write = await request(http).post('/foreign/put').set('Cookie', `sid=${id}`).send({ x: 1 }).expect(200);
    expect(sessionCookie(write.headers)).toBeDefined();
    expect(sessionCookie(write.headers)).not.toBe(`sid=${id}`);
    expect(await storedItems(id)).toBe('[1,2]');
  });

  it.each(['0', '-5'])(
    'DynamoDB: a Timeout of %s is unreadable (as on Redis): a write goes to a new session, and the next request sees it',
    async (timeout) => {
      const http = await startApp(table.createStore());
      const id = newId();
      await putRecord(id, { Items: { S: '{"cart":["book"]}' }, Timeout: { N: timeout } });
      const write = await request(http).post('/foreign/put').set('Cookie', `sid=${id}`).send({ x: 1 }).expect(200);
      const cookie = sessionCookie(write.headers);
      expect(cookie).toBeDefined();
      expect(cookie).not.toBe(`sid=${id}`);
      await request(http)
        .get('/foreign/all')
        .set('Cookie', cookie!)
        .expect(200, { items: { x: 1 } });
    },
  );
});
