/**
 * The moved session's marker on DynamoDB Local, across two instances on one table: a login on one
 * instance, then a request with the old cookie on the other. The marker is the removed record's stub
 * (`MovedUntil`), written by the login's own removal: the login's calls and capacity units, counted
 * from ConsumedCapacity, are what they were without it.
 */
import request from 'supertest';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { MOVED_MARKER_MS } from '../../src/index.js';
import { meterCapacity } from '../support/consumed-capacity-middleware.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf, startSessionApp, type SessionApp } from './session-app.js';

const tableName = uniqueTableName('moved');
afterAll(() => deleteTable(tableName));

describe.each(ADAPTERS)('a moved session marker on DynamoDB Local, two instances (%s)', (adapter) => {
  const apps: SessionApp[] = [];
  let now = Date.now();

  async function instance() {
    const store = new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig(), clock: () => now });
    const app = await startSessionApp(adapter, { store });
    apps.push(app);
    return { http: app.app.getHttpServer(), raw: store };
  }

  beforeEach(() => {
    now = Date.now();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
  });

  const seeded = async (http: unknown) =>
    sessionCookie(
      (
        await request(http as never)
          .post('/seed')
          .expect(200)
      ).headers,
    )!;

  it('a write with the old cookie on the other instance after a login: 409, no cookie; a read: 200, no cookie; the login stands', async () => {
    const a = await instance();
    const b = await instance();
    const old = await seeded(a.http);
    const meter = meterCapacity(a.raw.client);
    const login = await request(a.http).post('/regenerate').set('Cookie', old).expect(200);
    // The login: its lock, the new record, the old one's removal (with the marker): 3 calls, 3 WCU.
    expect(meter.calls()).toEqual(['UpdateItem', 'PutItem', 'UpdateItem']);
    expect(meter.wcu()).toBe(3);
    meter.detach();
    const loggedIn = sessionCookie(login.headers)!;

    const write = await request(b.http).post('/count').set('Cookie', old);
    expect(write.status).toBe(409);
    expect(write.headers['retry-after']).toBe('1');
    expect(sessionCookie(write.headers)).toBeUndefined();
    const read = await request(b.http).get('/count').set('Cookie', old).expect(200, { count: 0 });
    expect(read.headers['set-cookie']).toBeUndefined();
    await request(b.http).get('/profile').set('Cookie', loggedIn).expect(200, { user: 'ann', count: 0 });
    expect(await b.raw.getItem(idOf(old))).toEqual({ kind: 'absent', moved: true });
    // Never a session: the marker takes no lock and holds nothing.
    expect(await b.raw.probeLock(idOf(old))).toBeNull();
    expect(await b.raw.getItemExclusive(idOf(old))).toEqual({ kind: 'absent', moved: true });
  });

  it('after MOVED_MARKER_MS the old id is unknown again: a write starts a new session', async () => {
    const a = await instance();
    const b = await instance();
    const old = await seeded(a.http);
    await request(a.http).post('/regenerate').set('Cookie', old).expect(200);
    now += MOVED_MARKER_MS;
    expect(await b.raw.getItem(idOf(old))).toEqual({ kind: 'absent' });
    const write = await request(b.http).post('/count').set('Cookie', old).expect(200, { count: 1 });
    expect(sessionCookie(write.headers)).not.toBe(old);
  });

  it('abandon leaves no marker (the same stub, without MovedUntil)', async () => {
    const a = await instance();
    const old = await seeded(a.http);
    await request(a.http).post('/abandon').set('Cookie', old).expect(200);
    expect(await a.raw.getItem(idOf(old))).toEqual({ kind: 'absent' });
    expect(await a.raw.getItemExclusive(idOf(old))).toEqual({ kind: 'absent' });
  });
});
