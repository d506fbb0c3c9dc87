import { Logger } from '@nestjs/common';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  SessionStateStoreMisconfiguredError,
  SessionStateStoreUnavailableError,
  type SessionStateAcquisition,
} from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { StoreFailureLog } from '../../src/observability/store-failure-log.js';
import { injectDynamoDBFault, throttlingError } from '../support/dynamodb-fault-middleware.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf } from '../e2e/session-app.js';
import { GRAPHQL_SERVER, gql, startGraphQLApp, type GraphQLApp } from '../e2e/graphql-app.js';
import { ADAPTERS_AND_STORES, createStore, startOpsApp, type OpsApp, prepareTable } from './ops-app.js';

const tableName = uniqueTableName('ops-logs');
beforeAll(() => prepareTable(tableName));
afterAll(() => deleteTable(tableName));

/** An in-memory store whose backend can be made to fail, as a network store's would. */
class FlakyInMemoryStore extends InMemorySessionStateStore {
  failing = false;
  override async getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    if (this.failing) {
      throw new SessionStateStoreUnavailableError('the backend did not answer', { cause: new Error('connect ECONNREFUSED 10.0.0.9:6379') });
    }
    return super.getItemExclusive(id);
  }
}

/** Error lines logged by the module while `run` runs. */
async function errorLines(run: () => Promise<void>): Promise<string[]> {
  const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
  vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
  try {
    await run();
    return error.mock.calls.map(([message]) => String(message));
  } finally {
    vi.restoreAllMocks();
  }
}

const UNAVAILABLE_BODY = { statusCode: 503, message: 'Session state is unavailable; try again.', error: 'Service Unavailable' };

describe.each(ADAPTERS_AND_STORES)('store failure logs over %s on %s', (adapter, kind) => {
  let t: OpsApp;
  afterEach(() => t?.close());

  it('every failure answered with 503 is logged at error level: the first in full, then one summary line per interval with the count; never the session id', async () => {
    const store = kind === 'memory' ? new FlakyInMemoryStore() : await createStore('dynamodb', tableName);
    t = await startOpsApp(adapter, store);
    const cookie = sessionCookie((await request(t.http).post('/seed').expect(200)).headers)!;
    const id = idOf(cookie);
    const fail = (on: boolean) => {
      if (store instanceof FlakyInMemoryStore) store.failing = on;
      else if (on) removeFault = injectDynamoDBFault((store as DynamoDBSessionStateStore).client, () => throttlingError());
      else removeFault();
    };
    let removeFault = () => {};

    const lines = await errorLines(async () => {
      fail(true);
      for (let i = 0; i < 5; i++) await request(t.http).post('/count').set('Cookie', cookie).expect(503, UNAVAILABLE_BODY);
      const log = t.app.get(StoreFailureLog);
      log.flush(); // the interval's end
      log.flush(); // a quiet interval: nothing to say
      await request(t.http).post('/count').set('Cookie', cookie).expect(503);
      fail(false);
    });

    expect(lines).toHaveLength(3);
    const where = kind === 'memory' ? 'FlakyInMemoryStore' : `DynamoDB table "${tableName}"`;
    const first = new RegExp(`^Session store unavailable \\[outage\\]: getItemExclusive on ${where} failed with SessionStateStoreUnavailableError: `);
    expect(lines[0]).toMatch(first);
    expect(lines[0]).toContain(kind === 'memory' ? 'cause: Error: connect ECONNREFUSED' : 'ThrottlingException');
    expect(lines[1]).toMatch(
      /^4 more session store failure\(s\) of this kind in the last 60 s; the last: Session store unavailable \[outage\]: getItemExclusive/,
    );
    // After a quiet interval the next failure is logged in full again.
    expect(lines[2]).toMatch(first);
    for (const line of lines) expect(line).not.toContain(id);
    await request(t.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });
});

describe.each(ADAPTERS)('DynamoDB configuration errors over %s', (adapter) => {
  let t: OpsApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  /** A configuration error at run time: still a 503 for the client, logged as [configuration] with its fix. */
  async function expectConfigurationError(fault: () => Error, fix: RegExp) {
    const store = (await createStore('dynamodb', tableName)) as DynamoDBSessionStateStore;
    t = await startOpsApp(adapter, store);
    const cookie = sessionCookie((await request(t.http).post('/seed').expect(200)).headers)!;
    const lines = await errorLines(async () => {
      const remove = injectDynamoDBFault(store.client, () => fault());
      await request(t!.http).post('/count').set('Cookie', cookie).expect(503, UNAVAILABLE_BODY);
      remove();
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^Session store configuration error \[configuration\]: getItemExclusive on DynamoDB table "[^"]+" failed with SessionStateStoreMisconfiguredError: /,
    );
    expect(lines[0]).toMatch(fix);
    expect(lines[0]).not.toContain(idOf(cookie));
  }

  it('access denied', () =>
    expectConfigurationError(
      () =>
        Object.assign(new Error('User: arn:aws:iam::123456789012:user/app is not authorized to perform: dynamodb:UpdateItem'), {
          name: 'AccessDeniedException',
          $fault: 'client' as const,
          $metadata: { httpStatusCode: 400 },
        }),
      /not allowed dynamodb:UpdateItem on table .* Grant it to the role or user \(docs\/DYNAMODB\.md: "IAM permissions"\)/,
    ));

  it('credentials that cannot be loaded', () =>
    expectConfigurationError(
      () => Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
      /no AWS credentials were found\. Give the process credentials/,
    ));

  it('a table deleted under a running application', async () => {
    const own = uniqueTableName('ops-gone');
    const store = (await createStore('dynamodb', own)) as DynamoDBSessionStateStore;
    t = await startOpsApp(adapter, store);
    const cookie = sessionCookie((await request(t.http).post('/seed').expect(200)).headers)!;
    await deleteTable(own);
    const lines = await errorLines(async () => {
      await request(t!.http).post('/count').set('Cookie', cookie).expect(503, UNAVAILABLE_BODY);
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`\\[configuration\\]: getItemExclusive on DynamoDB table "${own}".*the table "${own}" does not exist .*createIfNotExists`),
    );
  });
});

describe('DynamoDB configuration errors at startup', () => {
  it('at startup: a missing region and missing credentials fail init() with the fix, apart from outages', async () => {
    const { endpoint, credentials } = await localClientConfig();
    vi.stubEnv('AWS_REGION', undefined);
    vi.stubEnv('AWS_DEFAULT_REGION', undefined);
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent');
    try {
      const noRegion = new DynamoDBSessionStateStore({ tableName, clientConfig: { endpoint, credentials } });
      const error = await noRegion.init().catch((e: unknown) => e);
      noRegion.destroy();
      expect(error).toBeInstanceOf(SessionStateStoreMisconfiguredError);
      expect((error as Error).message).toMatch(/no \(valid\) AWS region is configured\. Set AWS_REGION, or pass clientConfig\.region/);
    } finally {
      vi.unstubAllEnvs();
    }
    const noCredentials = new DynamoDBSessionStateStore({
      tableName,
      clientConfig: {
        endpoint,
        region: 'us-east-1',
        credentials: () =>
          Promise.reject(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' })),
      },
    });
    const error = await noCredentials.init().catch((e: unknown) => e);
    noCredentials.destroy();
    expect(error).toBeInstanceOf(SessionStateStoreMisconfiguredError);
    expect((error as Error).message).toMatch(/no AWS credentials were found/);
    // An outage stays an outage.
    const unreachable = new DynamoDBSessionStateStore({
      tableName,
      clientConfig: { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', credentials },
      maxAttempts: 1,
    });
    const outage = await unreachable.init().catch((e: unknown) => e);
    unreachable.destroy();
    expect(outage).toBeInstanceOf(SessionStateStoreUnavailableError);
    expect(outage).not.toBeInstanceOf(SessionStateStoreMisconfiguredError);
  });
});

/** A store whose errors name the key they failed on, as Redis and SQL client errors do. */
class KeyNamingStore extends InMemorySessionStateStore {
  readonly failing = new Set<string>();
  private fail(method: string, id: string): void {
    if (this.failing.has(method)) throw new Error(`${method} failed for key "sess:${id}" (connection reset)`);
  }
  override async getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    this.fail('getItemExclusive', id);
    return super.getItemExclusive(id);
  }
  override async setAndReleaseItemExclusive(...args: Parameters<InMemorySessionStateStore['setAndReleaseItemExclusive']>) {
    this.fail('setAndReleaseItemExclusive', args[0]);
    return super.setAndReleaseItemExclusive(...args);
  }
  /** Releases, then fails (its answer lost): the test's next requests find the session unlocked. */
  override async releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    const released = await super.releaseItemExclusive(id, lockId);
    this.fail('releaseItemExclusive', id);
    return released;
  }
}

/** Every line logged (any level, the module's and Nest's) while `run` runs. */
async function allLogLines(run: () => Promise<void>): Promise<string[]> {
  const spies = (['log', 'error', 'warn', 'debug', 'verbose', 'fatal'] as const).map((level) =>
    vi.spyOn(Logger.prototype, level).mockImplementation(() => {}),
  );
  try {
    await run();
    return spies.flatMap((spy) =>
      spy.mock.calls.map((args) => args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : String(a))).join(' ')),
    );
  } finally {
    vi.restoreAllMocks();
  }
}

describe.each(ADAPTERS)('a store whose errors name the session id, over %s', (adapter) => {
  let t: OpsApp | undefined;
  let g: GraphQLApp | undefined;
  afterEach(async () => {
    await t?.close();
    await g?.app.close();
    t = g = undefined;
  });

  it('HTTP: a failed lock, a failed save and its failed release answer 500 and put no session id in any log line', async () => {
    const store = new KeyNamingStore();
    t = await startOpsApp(adapter, store);
    const cookie = sessionCookie((await request(t.http).post('/seed').expect(200)).headers)!;
    const lines = await allLogLines(async () => {
      store.failing.add('getItemExclusive');
      await request(t!.http).post('/count').set('Cookie', cookie).expect(500);
      store.failing.clear();
      store.failing.add('setAndReleaseItemExclusive').add('releaseItemExclusive');
      await request(t!.http).post('/count').set('Cookie', cookie).expect(500);
      store.failing.clear();
      store.failing.add('releaseItemExclusive');
      await request(t!.http).post('/touch').set('Cookie', cookie).expect(500);
      store.failing.clear();
      t!.app.get(StoreFailureLog).flush(); // the summary line of the failures counted after the first
    });
    // The failed release is logged once, by the store failure log (not again by the lifecycle).
    expect(lines.some((line) => /releaseItemExclusive on .* failed/.test(line))).toBe(true);
    // The store's own text (which names the key) is shown, redacted: the first failure in full, then the summary.
    expect(lines.filter((line) => line.includes('connection reset')).length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).not.toContain(idOf(cookie));
    await request(t.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it(`GraphQL (${GRAPHQL_SERVER[adapter]}): a failed save answers a GraphQL error and puts no session id in any log line`, async () => {
    const store = new KeyNamingStore();
    g = await startGraphQLApp(adapter, { store });
    const cookie = sessionCookie((await gql(g.http, { query: 'mutation { increment }' })).headers)!;
    const lines = await allLogLines(async () => {
      store.failing.add('setAndReleaseItemExclusive').add('releaseItemExclusive');
      const res = await gql(g!.http, { query: 'mutation { increment }' }, cookie);
      expect(res.body.errors?.[0]?.message).toMatch(/Session state failed/);
      store.failing.clear();
    });
    expect(lines.some((line) => /Session state of a GraphQL request failed/.test(line))).toBe(true);
    for (const line of lines) expect(line).not.toContain(idOf(cookie));
  });
});
