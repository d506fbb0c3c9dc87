import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { SessionStateMetrics } from '../../src/observability/session-state-metrics.js';
import type { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { deleteTable, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { createStore, startOpsApp } from './ops-app.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const support = fileURLToPath(new URL('../support/without-optional-packages/', import.meta.url));

describe('optional peer dependencies (the built package)', () => {
  // The main entry point imports none of them: were one loaded unguarded, this app would fail to start.
  it('an app without @opentelemetry/api, @nestjs/terminus and @aws-sdk/client-dynamodb installed works: sessions, owners and revocation', () => {
    // A separate Node process in which the three packages resolve as "not installed".
    const output = execFileSync(process.execPath, ['--import', `${support}register.mjs`, `${support}app.mjs`], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, BLOCKED_PACKAGES: '@opentelemetry/api,@nestjs/terminus,@aws-sdk/client-dynamodb' },
    });
    expect(JSON.parse(output.trim().split('\n').at(-1)!)).toEqual({
      otel: 'absent',
      terminus: 'absent',
      dynamodb: 'absent',
      dynamodbEntry: 'needs @aws-sdk/client-dynamodb',
      first: { n: 1 },
      second: { n: 2 },
      revoked: 1,
    });
  });

  it('with @opentelemetry/api but no SDK registered, metrics are off', async () => {
    expect((await SessionStateMetrics.create()).enabled).toBe(false);
  });
});

const tableName = uniqueTableName('ops-no-metrics');
afterAll(() => deleteTable(tableName));

describe.each(ADAPTERS)('metrics off on DynamoDB over %s', (adapter) => {
  it('the store asks DynamoDB for no consumed capacity', async () => {
    const store = (await createStore('dynamodb', tableName)) as DynamoDBSessionStateStore;
    const asked: unknown[] = [];
    store.client.middlewareStack.add(
      (next) => async (args) => {
        asked.push((args.input as { ReturnConsumedCapacity?: unknown }).ReturnConsumedCapacity);
        return next(args);
      },
      { step: 'serialize', name: 'spy' },
    );
    const t = await startOpsApp(adapter, store);
    try {
      const cookie = sessionCookie((await request(t.http).post('/seed').expect(200)).headers)!;
      await request(t.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
      expect(asked.length).toBeGreaterThanOrEqual(3);
      expect(asked.filter((value) => value !== undefined)).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
