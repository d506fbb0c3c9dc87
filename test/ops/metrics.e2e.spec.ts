import { request as httpRequest } from 'node:http';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { SessionRevoker } from '../../src/index.js';
import { injectDynamoDBFault, throttlingError } from '../support/dynamodb-fault-middleware.js';
import type { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { deleteTable, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { startMetricsProbe, type MetricsProbe } from '../support/metrics-reader.js';
import { sessionCookie } from '../support/test-app.js';
import { idOf } from '../e2e/session-app.js';
import { ADAPTERS_AND_STORES, createStore, startOpsApp, waitingFor, type OpsApp, prepareTable } from './ops-app.js';

const tableName = uniqueTableName('ops-metrics');
beforeAll(() => prepareTable(tableName));
let probe: MetricsProbe;
beforeAll(() => {
  probe = startMetricsProbe();
});
afterAll(async () => {
  await probe.stop();
  await deleteTable(tableName);
});

const op = (operation: string, outcome = 'ok') =>
  `session_state.store.operation.duration{session_state.operation=${operation},session_state.outcome=${outcome}}`;
const wait = (outcome: string) => `session_state.lock.wait.duration{session_state.outcome=${outcome}}`;
const rejected = (reason: string) => `session_state.request.rejected{reason=${reason}}`;
const capacity = (type: 'read' | 'write') => `session_state.dynamodb.consumed_capacity{type=${type}}`;

describe.each(ADAPTERS_AND_STORES)('metrics over %s on %s', (adapter, kind) => {
  let t: OpsApp;
  afterEach(async () => {
    vi.restoreAllMocks();
    await t?.close();
  });
  const start = async (options = {}) => {
    t = await startOpsApp(adapter, await createStore(kind, tableName), options);
    return sessionCookie((await request(t.http).post('/seed').expect(200)).headers)!;
  };
  /** DynamoDB only: the capacity a request consumed (small items: 1 unit per read or write). */
  const units = (reads: number, writes: number) =>
    kind === 'memory' ? {} : { ...(reads ? { [capacity('read')]: reads } : {}), ...(writes ? { [capacity('write')]: writes } : {}) };

  it('every store operation is measured by operation and outcome; DynamoDB capacity by type; each instrument has its unit', async () => {
    const cookie = await start();
    let before = await probe.read();
    await request(t.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(await probe.since(before)).toEqual({
      [wait('acquired')]: 1,
      [op('getItemExclusive')]: 1,
      [op('setAndReleaseItemExclusive')]: 1,
      ...units(0, 2),
    });

    before = await probe.read();
    await request(t.http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(await probe.since(before)).toEqual({ [wait('acquired')]: 1, [op('getItem')]: 1, ...units(1, 0) });

    before = await probe.read();
    await request(t.http).post('/abandon').set('Cookie', cookie).expect(200);
    expect(await probe.since(before)).toEqual({
      [wait('acquired')]: 1,
      [op('getItemExclusive')]: 1,
      [op('removeItem')]: 1,
      ...units(0, 2),
    });

    expect(await probe.instruments('nestjs-session-state')).toMatchObject({
      'session_state.lock.wait.duration': 's',
      'session_state.store.operation.duration': 's',
    });
  });

  it('a fenced write: condition_failed, session_state.lock.lost and a lock_lost rejection (the 409)', async () => {
    await start();
    const cookie = sessionCookie((await request(t.http).post('/login?owner=metrics-ann').expect(200)).headers)!;
    const held = request(t.http)
      .post('/count?gate=held')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('held');
    await t.app.get(SessionRevoker).revokeOwner('metrics-ann');
    const before = await probe.read();
    t.gates.open('held');
    expect((await held).status).toBe(409);
    expect(await probe.since(before)).toEqual({
      [op('setAndReleaseItemExclusive', 'condition_failed')]: 1,
      'session_state.lock.lost{}': 1,
      [rejected('lock_lost')]: 1,
    });
  });

  it('a full queue, a stale lock broken by a waiter, and the fenced-out holder: each counted', async () => {
    vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    const cookie = await start({ executionTimeout: 0.3, lockWait: { maxQueueLength: 1 } });
    const holder = request(t.http)
      .post('/count?gate=hold')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('hold');
    const before = await probe.read();
    const waiter = request(t.http)
      .post('/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await vi.waitFor(() => expect(waitingFor(t.app, idOf(cookie))).toBe(1));
    await request(t.http).post('/count').set('Cookie', cookie).expect(503);
    // After executionTimeout the waiter breaks the holder's lock as stale and is served.
    expect((await waiter).status).toBe(200);
    t.gates.open('hold');
    expect((await holder).status).toBe(409);
    const changed = await probe.since(before);
    expect(changed).toMatchObject({
      [wait('queue_full')]: 1,
      [rejected('queue_full')]: 1,
      [wait('stale_broken')]: 1,
      'session_state.lock.stale_broken{}': 1,
      'session_state.lock.lost{}': 1,
      [rejected('lock_lost')]: 1,
    });
    expect(changed[wait('acquired')]).toBeUndefined();
  });

  it('a request turned away at shutdown: lock wait outcome shutdown and a shutdown rejection', async () => {
    const cookie = await start();
    const holder = request(t.http)
      .post('/count?gate=last')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('last');
    const before = await probe.read();
    const waiter = request(t.http)
      .post('/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await vi.waitFor(() => expect(waitingFor(t.app, idOf(cookie))).toBe(1));
    const closed = t.app.close();
    expect((await waiter).status).toBe(503);
    t.gates.open('last');
    expect((await holder).status).toBe(200);
    await closed;
    expect(await probe.since(before)).toMatchObject({ [wait('shutdown')]: 1, [rejected('shutdown')]: 1 });
  });

  it('a client that leaves while waiting: lock wait outcome aborted', async () => {
    const cookie = await start();
    await t.app.listen(0, '127.0.0.1');
    const { port } = t.app.getHttpServer().address();
    const holder = request(t.http)
      .post('/count?gate=stay')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('stay');
    const before = await probe.read();
    const leaving = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/count', headers: { cookie }, agent: false });
    leaving.on('error', () => {});
    leaving.end();
    await vi.waitFor(() => expect(waitingFor(t.app, idOf(cookie))).toBe(1));
    leaving.destroy();
    await vi.waitFor(() => expect(waitingFor(t.app, idOf(cookie))).toBe(0));
    t.gates.open('stay');
    expect((await holder).status).toBe(200);
    expect(await probe.since(before)).toMatchObject({ [wait('aborted')]: 1, [rejected('aborted')]: 1 });
  });

  it.runIf(kind === 'dynamodb')('DynamoDB: a session over the item limit (too_large, a 413) and a corrupt record (corrupt)', async () => {
    vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
    vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    const cookie = await start();
    let before = await probe.read();
    await request(t.http).post('/big?kb=700').set('Cookie', cookie).expect(413);
    expect(await probe.since(before)).toMatchObject({ [op('setAndReleaseItemExclusive', 'too_large')]: 1, [rejected('too_large')]: 1 });

    const store = t.store as DynamoDBSessionStateStore;
    await store.client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          SessionId: { S: idOf(cookie) },
          Items: { B: Buffer.from('not gzip') },
          Expires: { N: String(Date.now() + 60_000) },
          Timeout: { N: '20' },
        },
      }),
    );
    before = await probe.read();
    // An unreadable session is replaced by a new one: the request succeeds.
    await request(t.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(await probe.since(before)).toMatchObject({ [op('getItemExclusive', 'corrupt')]: 1 });
  });

  it('an unavailable store: outcome unavailable and a store_unavailable rejection', async () => {
    vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
    const cookie = await start();
    const before = await probe.read();
    if (kind === 'dynamodb') {
      const remove = injectDynamoDBFault((t.store as DynamoDBSessionStateStore).client, () => throttlingError());
      await request(t.http).get('/count').set('Cookie', cookie).expect(503);
      remove();
    } else {
      vi.spyOn(t.store, 'getItem').mockRejectedValueOnce(new (await import('../../src/index.js')).SessionStateStoreUnavailableError('down'));
      await request(t.http).get('/count').set('Cookie', cookie).expect(503);
    }
    expect(await probe.since(before)).toEqual({ [op('getItem', 'unavailable')]: 1, [rejected('store_unavailable')]: 1 });
  });
});
