import request from 'supertest';
import type { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { countDynamoDBCalls } from '../support/counting-middleware.js';
import { injectDynamoDBFault, throttlingError } from '../support/dynamodb-fault-middleware.js';
import { deleteTable, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS_AND_STORES, createStore, startOpsApp, type OpsApp, prepareTable } from './ops-app.js';

const tableName = uniqueTableName('ops-health');
beforeAll(() => prepareTable(tableName));
afterAll(() => deleteTable(tableName));

describe.each(ADAPTERS_AND_STORES)('the terminus health indicator over %s on %s', (adapter, kind) => {
  let t: OpsApp;
  /** Moves the DynamoDB store's clock, so the cached check expires without waiting. */
  let offsetMs = 0;
  beforeEach(async () => {
    offsetMs = 0;
    t = await startOpsApp(adapter, await createStore(kind, tableName, { clock: () => Date.now() + offsetMs }));
  });
  afterEach(() => t.close());

  it('is up, and answers repeated checks from one cached DescribeTable (never a read of sessions)', async () => {
    const calls = kind === 'dynamodb' ? countDynamoDBCalls((t.store as DynamoDBSessionStateStore).client) : undefined;
    const res = await request(t.http).get('/health').expect(200);
    expect(res.body.status).toBe('ok');
    if (kind === 'memory') expect(res.body.info).toEqual({ session_store: { status: 'up' } });
    else expect(res.body.info).toEqual({ session_store: { status: 'up', table: tableName, tableStatus: 'ACTIVE' } });
    await request(t.http).get('/health').expect(200);
    await request(t.http).get('/health').expect(200);
    if (calls) expect(calls.byCommand()).toEqual({ DescribeTable: 1 });
  });

  it('DynamoDB failing: down with a 503 and the error class only, once the cached check is older than 5 s', async () => {
    if (kind === 'memory') {
      // In memory there is nothing to fail: always up.
      await request(t.http).get('/health').expect(200);
      return;
    }
    const store = t.store as DynamoDBSessionStateStore;
    await request(t.http).get('/health').expect(200);
    const remove = injectDynamoDBFault(store.client, () => throttlingError());
    // Within the cache interval the last answer stands.
    await request(t.http).get('/health').expect(200);
    offsetMs = 5_000;
    const down = await request(t.http).get('/health').expect(503);
    expect(down.body.error).toEqual({ session_store: { status: 'down', table: tableName, error: 'ThrottlingException' } });
    remove();
    offsetMs = 10_000;
    await request(t.http).get('/health').expect(200);
  });
});
