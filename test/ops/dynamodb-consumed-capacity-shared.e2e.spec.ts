/**
 * DynamoDB consumed capacity when applications of one process share a store object (docs/DYNAMODB.md:
 * "every application built from it") or two stores share one SDK client (`{ client }`) and table: one
 * middleware per client, each call counted once, to the application that made it. A read-write
 * request consumes 2 write units (OPERATIONS.md), whichever application serves it, and one
 * application shutting down leaves the others counted.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import request from 'supertest';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { startMetricsProbe, type MetricsProbe } from '../support/metrics-reader.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { sessionCookie } from '../support/test-app.js';
import { createStore, prepareTable, startOpsApp, type OpsApp } from './ops-app.js';

const tableName = uniqueTableName('capacity-shared');
beforeAll(() => prepareTable(tableName));
let probe: MetricsProbe;
beforeAll(() => {
  probe = startMetricsProbe();
});
afterAll(async () => {
  await probe.stop();
  await deleteTable(tableName);
});

const writeUnits = 'session_state.dynamodb.consumed_capacity{type=write}';

/** The write units one read-write request of an existing session consumes, served by `app`. */
async function writeUnitsOfOneRequest(app: OpsApp, cookie: string): Promise<number | undefined> {
  const before = await probe.read();
  await request(app.http).post('/count').set('Cookie', cookie).expect(200);
  return (await probe.since(before))[writeUnits];
}

describe('DynamoDB consumed capacity with two applications in one process', () => {
  let apps: OpsApp[] = [];
  let client: DynamoDBClient | undefined;
  afterEach(async () => {
    await Promise.all(apps.map((a) => a.close()));
    apps = [];
    client?.destroy();
  });

  it('one store object shared by two applications: a read-write request counts 2 write units on either, and after one shuts down', async () => {
    const store = await createStore('dynamodb', tableName);
    apps = [await startOpsApp('express', store), await startOpsApp('fastify', store)];
    const cookie = sessionCookie((await request(apps[0]!.http).post('/seed').expect(200)).headers)!;
    expect(await writeUnitsOfOneRequest(apps[0]!, cookie)).toBe(2);
    expect(await writeUnitsOfOneRequest(apps[1]!, cookie)).toBe(2);
    await apps.shift()!.close();
    expect(await writeUnitsOfOneRequest(apps[0]!, cookie)).toBe(2);
  });

  it('two stores on one application client and table: a read-write request counts 2 write units', async () => {
    client = new DynamoDBClient(await localClientConfig());
    apps = [
      await startOpsApp('express', new DynamoDBSessionStateStore({ client, tableName })),
      await startOpsApp('fastify', new DynamoDBSessionStateStore({ client, tableName })),
    ];
    const cookie = sessionCookie((await request(apps[0]!.http).post('/seed').expect(200)).headers)!;
    expect(await writeUnitsOfOneRequest(apps[0]!, cookie)).toBe(2);
    expect(await writeUnitsOfOneRequest(apps[1]!, cookie)).toBe(2);
    await apps.shift()!.close();
    expect(await writeUnitsOfOneRequest(apps[0]!, cookie)).toBe(2);
  });
});
