import { DynamoDBClient, GetItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf, startSessionApp, type SessionApp } from '../e2e/session-app.js';

// A record whose `TimeoutMs` (or `TimeoutSeconds`) is not a number would make the lock call's own
// SLIDE_EXPIRY (`:now + if_not_exists(#timeoutMs, …)`) a ValidationException, a plain error: 500 on
// every read-write request until the record expired. The lock call's condition refuses such a
// record instead, so it is read as corrupt and replaced by a new session, like every other
// unreadable record (bad gzip, a missing data item, `Timeout` of the wrong type, an unknown `Version`).
const tableName = uniqueTableName('wrongtypes');
const raw = new DynamoDBClient({ ...(await localClientConfig()) });
afterAll(async () => {
  await deleteTable(tableName);
  raw.destroy();
});

describe.each(ADAPTERS)('a stored record with a wrongly typed attribute, over %s', (adapter) => {
  const apps: SessionApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
  });

  async function seeded() {
    const store = new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() });
    const app = await startSessionApp(adapter, { store });
    apps.push(app);
    const http = app.app.getHttpServer();
    const cookie = sessionCookie((await request(http).post('/seed').expect(200)).headers)!;
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    return { http, cookie, id: idOf(cookie) };
  }

  const corrupt = (id: string, name: string, value: AttributeValue) =>
    raw.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { SessionId: { S: id } },
        UpdateExpression: 'SET #a = :v',
        ExpressionAttributeNames: { '#a': name },
        ExpressionAttributeValues: { ':v': value },
      }),
    );

  it('Timeout as a string: a read-write request starts a new session, no 5xx, no lock left', async () => {
    const { http, cookie, id } = await seeded();
    await corrupt(id, 'Timeout', { S: '20' });
    const answer = await request(http).post('/count').set('Cookie', cookie);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ count: 1 });
    const item = (await raw.send(new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: id } }, ConsistentRead: true }))).Item;
    expect(item?.Locked).toEqual({ BOOL: false });
  });

  it.each(['TimeoutMs', 'TimeoutSeconds'])('%s as a string: a read-write request is not a 5xx (it starts a new session)', async (name) => {
    const { http, cookie, id } = await seeded();
    await corrupt(id, name, { S: '1200' });
    // Read-only still works (the slide's failure is logged and skipped) ...
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    // ... and read-write starts a new session (it answered 500 on every attempt before).
    const answers = await Promise.all([1, 2].map(() => request(http).post('/count').set('Cookie', cookie)));
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    const item = (await raw.send(new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: id } }, ConsistentRead: true }))).Item;
    expect(item?.Locked).toEqual({ BOOL: false });
  });
});
