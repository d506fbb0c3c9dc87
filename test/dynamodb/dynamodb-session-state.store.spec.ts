import { randomBytes } from 'node:crypto';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeSessionStateStoreConformance } from 'nestjs-session-state/testing';
import {
  SessionStateError,
  SessionStateLockLostError,
  SessionStateStoreUnavailableError,
  SessionStateStoreMisconfiguredError,
  SessionStateTooLargeError,
} from '../../src/errors/session-state.errors.js';
import { DynamoDBSessionStateStore, type DynamoDBSessionStateStoreOptions } from '../../src/dynamodb/index.js';
import { SessionStateActions } from '../../src/store/session-state-store.js';
import { countDynamoDBCalls } from '../support/counting-middleware.js';
import { injectDynamoDBFault, throttlingError } from '../support/dynamodb-fault-middleware.js';
import { deleteTable, localClientConfig as waitForLocalClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { flat } from '../../src/testing/flat-store-answer.js';

const MINUTE = 60_000;
const clientConfig = await waitForLocalClientConfig();
const localClientConfig = () => ({ ...clientConfig });
const tableName = uniqueTableName('conformance');
let raw: DynamoDBClient;

beforeAll(async () => {
  raw = new DynamoDBClient(localClientConfig());
  const store = new DynamoDBSessionStateStore({ clientConfig: localClientConfig(), tableName, createIfNotExists: true });
  await store.init();
  store.destroy();
});

afterAll(async () => {
  await deleteTable(tableName);
  raw?.destroy();
});

// The shipped suite on the test runner's globals (vitest `globals: true`, as under Jest).
describeSessionStateStoreConformance('DynamoDBSessionStateStore conformance', {
  create: (clock) => new DynamoDBSessionStateStore({ clientConfig: localClientConfig(), tableName, clock }),
  destroy: (store) => (store as DynamoDBSessionStateStore).destroy(),
  movedMarkers: true,
});

describe('DynamoDBSessionStateStore on DynamoDB Local', () => {
  let time = Date.now();
  const clock = () => time;
  const stores: DynamoDBSessionStateStore[] = [];
  const newId = () => randomBytes(18).toString('base64url');

  function createStore(options: DynamoDBSessionStateStoreOptions = {}): DynamoDBSessionStateStore {
    const store = new DynamoDBSessionStateStore({ clientConfig: localClientConfig(), tableName, clock, ...options });
    stores.push(store);
    return store;
  }

  async function rawItem(key: string, table = tableName): Promise<Record<string, AttributeValue> | undefined> {
    const { Item } = await raw.send(new GetItemCommand({ TableName: table, Key: { SessionId: { S: key } }, ConsistentRead: true }));
    return Item;
  }

  /** The stored items attribute: inline in the session's item, or in the data item it references. */
  async function storedItems(key: string): Promise<AttributeValue | undefined> {
    const item = await rawItem(key);
    return item?.DataId ? (await rawItem(`${key}#${item.DataId.S}`))?.Items : item?.Items;
  }

  it("its own client runs the SDK's logger middleware only for an app's logger (it filters every call's input and output for nothing)", async () => {
    const quiet = createStore();
    expect(quiet.client.middlewareStack.identify().some((name) => name.startsWith('loggerMiddleware'))).toBe(false);
    const lines: unknown[] = [];
    const logger = { debug() {}, info: (line: unknown) => void lines.push(line), warn() {}, error() {}, trace() {} };
    const logging = createStore({ clientConfig: { ...localClientConfig(), logger } });
    flat(await logging.getItem(newId()));
    expect(lines).toEqual([expect.objectContaining({ commandName: 'GetItemCommand' })]);
  });

  /** Awaits a rejection and answers the error. */
  async function rejection(promise: Promise<unknown>): Promise<Error> {
    try {
      await promise;
    } catch (error) {
      return error as Error;
    }
    throw new Error('Expected a rejection');
  }

  afterEach(() => {
    for (const store of stores.splice(0)) store.destroy();
    time = Date.now();
  });

  describe('one DynamoDB call per operation', () => {
    it('every operation, won or lost, is exactly one call of the expected command', async () => {
      const store = createStore();
      const calls = countDynamoDBCalls(store.client);
      const id = newId();
      const expectCalls = async <T>(run: () => Promise<T>, commands: string[]): Promise<T> => {
        calls.reset();
        const result = await run();
        expect(calls.calls()).toEqual(commands);
        return result;
      };

      await expectCalls(() => store.createUninitializedItem(id, 20), ['PutItem']);
      await expectCalls(() => store.createUninitializedItem(id, 20), ['PutItem']);
      expect(flat(await expectCalls(() => store.getItem(id), ['GetItem'])).actions).toBe(SessionStateActions.InitializeItem);
      const acquired = flat(await expectCalls(() => store.getItemExclusive(id), ['UpdateItem']));
      expect(acquired.actions).toBe(SessionStateActions.InitializeItem);
      const lockId = acquired.lockId!;

      time += 3_000;
      // Contended: one call, reporting the holder; no second read.
      const contended = flat(await expectCalls(() => store.getItemExclusive(id), ['UpdateItem']));
      expect(contended).toMatchObject({ item: null, locked: true, lockId, lockAge: 3_000 });
      expect(flat(await expectCalls(() => store.getItem(id), ['GetItem'])).lockId).toBe(lockId);
      await expectCalls(() => store.resetItemTimeout(id), ['UpdateItem']);
      const lockLost = (run: () => Promise<unknown>) => () => expect(run()).rejects.toThrow(SessionStateLockLostError);
      const stale = { items: '{}', timeout: 20 };
      await expectCalls(
        lockLost(() => store.setAndReleaseItemExclusive(id, stale, 'wrong', false)),
        ['UpdateItem'],
      );
      expect(await expectCalls(() => store.releaseItemExclusive(id, 'wrong'), ['UpdateItem'])).toBe(false);
      await expectCalls(
        lockLost(() => store.removeItem(id, 'wrong')),
        ['UpdateItem'],
      );
      const written = { items: '{"n":1}', timeout: 20 };
      await expectCalls(() => store.setAndReleaseItemExclusive(id, written, lockId, false), ['UpdateItem']);
      const again = flat(await expectCalls(() => store.getItemExclusive(id), ['UpdateItem']));
      expect(await expectCalls(() => store.releaseItemExclusive(id, again.lockId!), ['UpdateItem'])).toBe(true);
      const last = flat(await expectCalls(() => store.getItemExclusive(id), ['UpdateItem']));
      await expectCalls(() => store.removeItem(id, last.lockId!), ['UpdateItem']);
      await expectCalls(() => store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, null, true), ['PutItem']);

      // Absent ids: still one call each, nothing created.
      const absent = newId();
      await expectCalls(() => store.getItemExclusive(absent), ['UpdateItem']);
      await expectCalls(() => store.resetItemTimeout(absent), ['UpdateItem']);
      expect(await rawItem(absent)).toBeUndefined();

      // No I/O at all.
      await expectCalls(async () => store.createNewStoreData(20), []);
      await expectCalls(async () => store.setItemExpireCallback(() => undefined), []);
      expect(store.setItemExpireCallback(() => undefined)).toBe(false);
    });

    it('init() without createIfNotExists is one DescribeTable, and is idempotent', async () => {
      const store = createStore();
      const calls = countDynamoDBCalls(store.client);
      await store.init();
      await store.init();
      await store.init();
      expect(calls.calls()).toEqual(['DescribeTable']);
    });
  });

  describe('records', () => {
    it('stores epoch-ms numbers, a TTL in epoch seconds, and keeps CreateDate across updates', async () => {
      const store = createStore();
      const id = newId();
      const created = time;
      await store.setAndReleaseItemExclusive(id, { items: '{"a":1}', timeout: 20 }, null, true);
      const stored = (await rawItem(id))!;
      // The token of the write that made it (how a retried write recognises itself), in the newest of the write slots.
      expect(stored.W0?.S).toMatch(/^[\w-]{12}$/);
      delete stored.W0;
      expect(stored).toEqual({
        SessionId: { S: id },
        Items: { S: '{"a":1}' },
        Locked: { BOOL: false },
        LockDate: { N: String(created) },
        Expires: { N: String(created + 20 * MINUTE) },
        CreateDate: { N: String(created) },
        Flags: { N: '0' },
        Timeout: { N: '20' },
        TimeoutMs: { N: String(20 * MINUTE) },
        TimeoutSeconds: { N: '1200' },
        Version: { N: '1' },
        TTL: { N: String(Math.ceil(created / 1000) + 300 + 1200) },
      });

      time += 1_000;
      const { lockId } = flat(await store.getItemExclusive(id));
      const locked = await rawItem(id);
      expect(locked).toMatchObject({ Locked: { BOOL: true }, LockId: { S: lockId }, LockDate: { N: String(time) } });

      time += 2 * MINUTE;
      expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
      const released = await rawItem(id);
      expect(released?.LockId).toBeUndefined();
      expect(released).toMatchObject({
        Locked: { BOOL: false },
        Expires: { N: String(time + 20 * MINUTE) },
        TTL: { N: String(Math.ceil(time / 1000) + 300 + 1200) },
        CreateDate: { N: String(created) },
        Items: { S: '{"a":1}' },
      });

      time += MINUTE;
      const second = flat(await store.getItemExclusive(id));
      await store.setAndReleaseItemExclusive(id, { items: '{"a":2}', timeout: 5 }, second.lockId, false);
      const written = await rawItem(id);
      expect(written?.LockId).toBeUndefined();
      expect(written).toMatchObject({
        Items: { S: '{"a":2}' },
        Timeout: { N: '5' },
        TimeoutMs: { N: String(5 * MINUTE) },
        Expires: { N: String(time + 5 * MINUTE) },
        TTL: { N: String(Math.ceil(time / 1000) + 300 + 300) },
        CreateDate: { N: String(created) },
      });
    });

    it('the application prefix isolates applications sharing one table', async () => {
      const shop = createStore({ application: 'shop' });
      const blog = createStore({ application: 'blog' });
      const bare = createStore();
      const id = newId();
      await shop.setAndReleaseItemExclusive(id, { items: '{"app":"shop"}', timeout: 20 }, null, true);
      await blog.setAndReleaseItemExclusive(id, { items: '{"app":"blog"}', timeout: 20 }, null, true);
      expect((await rawItem(`shop-${id}`))?.Items).toEqual({ S: '{"app":"shop"}' });
      expect((await rawItem(`blog-${id}`))?.Items).toEqual({ S: '{"app":"blog"}' });
      expect(await rawItem(id)).toBeUndefined();
      expect(flat(await bare.getItem(id)).item).toBeNull();

      // Locks are per application too.
      const shopLock = flat(await shop.getItemExclusive(id));
      expect(shopLock.item?.items).toBe('{"app":"shop"}');
      const blogLock = flat(await blog.getItemExclusive(id));
      expect(blogLock.locked).toBe(false);
      expect(blogLock.item?.items).toBe('{"app":"blog"}');
      await blog.removeItem(id, blogLock.lockId!);
      expect(flat(await blog.getItem(id)).item).toBeNull();
      expect(flat(await shop.getItem(id)).locked).toBe(true);
    });

    it('expired items read as absent while still physically present, and can be replaced', async () => {
      const store = createStore();
      const id = newId();
      await store.setAndReleaseItemExclusive(id, { items: '{"old":true}', timeout: 1 }, null, true);
      time += MINUTE;
      expect(flat(await store.getItem(id)).item).toBeNull();
      expect(flat(await store.getItemExclusive(id)).locked).toBe(false);
      await store.resetItemTimeout(id);
      const leftover = await rawItem(id);
      expect(leftover).toMatchObject({ Items: { S: '{"old":true}' }, Locked: { BOOL: false } });
      expect(leftover?.LockId).toBeUndefined();

      await store.createUninitializedItem(id, 20);
      expect(await rawItem(id)).toMatchObject({ Items: { S: '{}' }, Flags: { N: '1' } });
      expect(flat(await store.getItem(id)).actions).toBe(SessionStateActions.InitializeItem);
    });

    it('a record that cannot be decoded is a clear error, not an empty session', async () => {
      const store = createStore();
      const id = newId();
      await raw.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            SessionId: { S: id },
            Items: { B: Buffer.from('not gzip') },
            Expires: { N: String(time + MINUTE) },
            Timeout: { N: '20' },
          },
        }),
      );
      const error = await rejection(store.getItem(id));
      expect(error).toBeInstanceOf(SessionStateError);
      expect(error.message).toMatch(/corrupt/);
      expect(error.message).not.toContain(id);
    });
  });

  describe('size and compression', () => {
    it('compresses a large session: the raw item is binary and smaller, and reads round-trip', async () => {
      const store = createStore();
      const id = newId();
      const line = 'The quick brown fox jumps over the lazy dog; session state, ASP.NET style. ';
      const items = JSON.stringify({ text: line.repeat(Math.ceil(300_000 / line.length)) });
      expect(items.length).toBeGreaterThan(300_000);
      await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);

      expect((await rawItem(id))?.Items).toBeUndefined();
      const stored = (await storedItems(id))!;
      expect(stored.S).toBeUndefined();
      expect(stored.B).toBeInstanceOf(Uint8Array);
      expect(stored.B!.byteLength).toBeLessThan(items.length / 10);
      expect(flat(await store.getItem(id)).item?.items).toBe(items);
      const acquired = flat(await store.getItemExclusive(id));
      expect(acquired.item?.items).toBe(items);

      // A small update goes back to a plain string.
      await store.setAndReleaseItemExclusive(id, { items: '{"small":true}', timeout: 20 }, acquired.lockId, false);
      expect((await rawItem(id))!.Items).toEqual({ S: '{"small":true}' });
      expect((await rawItem(id))!.DataId).toBeUndefined();
    });

    it('an incompressible session over the limit throws SessionStateTooLargeError before any write', async () => {
      const store = createStore();
      const calls = countDynamoDBCalls(store.client);
      const id = newId();
      await store.setAndReleaseItemExclusive(id, { items: '{"keep":"me"}', timeout: 20 }, null, true);
      const { lockId } = flat(await store.getItemExclusive(id));
      const huge = JSON.stringify({ blob: randomBytes(450_000).toString('base64') });
      expect(huge.length).toBeGreaterThan(500_000);

      calls.reset();
      const error = await rejection(store.setAndReleaseItemExclusive(id, { items: huge, timeout: 20 }, lockId, false));
      expect(error).toBeInstanceOf(SessionStateTooLargeError);
      expect((error as SessionStateTooLargeError).limit).toBe(400_000);
      expect((error as SessionStateTooLargeError).size).toBeGreaterThan(400_000);
      expect(calls.total()).toBe(0);

      // The stored session is intact, and the caller can still release its lock.
      expect(flat(await store.getItem(id)).locked).toBe(true);
      expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
      expect(flat(await store.getItem(id)).item?.items).toBe('{"keep":"me"}');

      // A new session that is too large is not written at all.
      const other = newId();
      await expect(store.setAndReleaseItemExclusive(other, { items: huge, timeout: 20 }, null, true)).rejects.toThrow(SessionStateTooLargeError);
      expect(await rawItem(other)).toBeUndefined();
    });

    it('honours maxItemBytes and compression: false', async () => {
      const store = createStore({ maxItemBytes: 10_000, compression: false });
      const id = newId();
      const items = JSON.stringify({ text: 'a'.repeat(20_000) });
      await expect(store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true)).rejects.toThrow(SessionStateTooLargeError);
      const fits = JSON.stringify({ text: 'a'.repeat(9_000) });
      await store.setAndReleaseItemExclusive(id, { items: fits, timeout: 20 }, null, true);
      expect(await storedItems(id)).toEqual({ S: fits });
    });

    it('rejects invalid options', () => {
      expect(() => createStore({ maxItemBytes: 500_000 })).toThrow(TypeError);
      expect(() => createStore({ requestTimeoutMs: 0 })).toThrow(TypeError);
      // Beyond 2^31-1 ms a Node timer fires at once: every call would time out.
      expect(() => createStore({ requestTimeoutMs: 2 ** 31 })).toThrow('requestTimeoutMs must be a number from 1 to 2147483647');
      expect(() => createStore({ keyAttribute: 'Expires' })).toThrow(TypeError);
      expect(() => createStore({ tableName: '' })).toThrow(TypeError);
    });
  });

  describe('table', () => {
    const tables: string[] = [];
    afterAll(async () => {
      await Promise.all(tables.map((table) => deleteTable(table)));
    });

    it('createIfNotExists creates an on-demand table with TTL enabled, once', async () => {
      const table = uniqueTableName('created');
      tables.push(table);
      const store = createStore({ tableName: table, createIfNotExists: true, keyAttribute: 'Id', ttlAttribute: 'ExpiresAt' });
      const calls = countDynamoDBCalls(store.client);
      await store.init();
      expect(calls.calls()).toEqual(['DescribeTable', 'CreateTable', 'DescribeTimeToLive', 'UpdateTimeToLive']);

      const { Table } = await raw.send(new DescribeTableCommand({ TableName: table }));
      expect(Table?.TableStatus).toBe('ACTIVE');
      expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
      expect(Table?.KeySchema).toEqual([{ AttributeName: 'Id', KeyType: 'HASH' }]);
      expect(Table?.AttributeDefinitions).toEqual([
        { AttributeName: 'Id', AttributeType: 'S' },
        { AttributeName: 'Owner', AttributeType: 'S' },
      ]);
      // The sparse owner index of sign-out-everywhere, keys only.
      expect(Table?.GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.KeySchema, i.Projection])).toEqual([
        ['Owner-index', [{ AttributeName: 'Owner', KeyType: 'HASH' }], { ProjectionType: 'KEYS_ONLY' }],
      ]);
      const { TimeToLiveDescription } = await raw.send(new DescribeTimeToLiveCommand({ TableName: table }));
      expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'ExpiresAt' });

      // A second instance finds it ready: no create, no TTL change.
      const second = createStore({ tableName: table, createIfNotExists: true, keyAttribute: 'Id', ttlAttribute: 'ExpiresAt' });
      const secondCalls = countDynamoDBCalls(second.client);
      await second.init();
      expect(secondCalls.calls()).toEqual(['DescribeTable', 'DescribeTimeToLive']);

      // And the custom attribute names are used.
      const id = newId();
      await second.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, null, true);
      const { Item } = await raw.send(new GetItemCommand({ TableName: table, Key: { Id: { S: id } } }));
      expect(Item?.ExpiresAt?.N).toEqual(expect.any(String));
      expect(Item?.TTL).toBeUndefined();
      expect(flat(await second.getItemExclusive(id)).lockId).toEqual(expect.any(String));
    });

    it('init() on a missing table without createIfNotExists rejects with a clear message', async () => {
      const table = uniqueTableName('missing');
      const store = createStore({ tableName: table });
      const error = await rejection(store.init());
      expect(error).toBeInstanceOf(SessionStateError);
      expect(error.message).toContain(`"${table}" does not exist`);
      expect(error.message).toContain('exactly one HASH key "SessionId" of type S');
      expect(error.message).toContain('createIfNotExists');
    });

    it('init() on a table with the wrong key schema rejects with a clear message', async () => {
      const composite = uniqueTableName('composite');
      const numeric = uniqueTableName('numeric');
      tables.push(composite, numeric);
      await raw.send(
        new CreateTableCommand({
          TableName: composite,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'SessionId', AttributeType: 'S' },
            { AttributeName: 'Sort', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'SessionId', KeyType: 'HASH' },
            { AttributeName: 'Sort', KeyType: 'RANGE' },
          ],
        }),
      );
      await raw.send(
        new CreateTableCommand({
          TableName: numeric,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'SessionId', AttributeType: 'N' }],
          KeySchema: [{ AttributeName: 'SessionId', KeyType: 'HASH' }],
        }),
      );

      for (const [table, found] of [
        [composite, 'RANGE key "Sort"'],
        [numeric, 'HASH key "SessionId" of type N'],
      ] as const) {
        for (const createIfNotExists of [false, true]) {
          const error = await rejection(createStore({ tableName: table, createIfNotExists }).init());
          expect(error).toBeInstanceOf(SessionStateError);
          expect(error.message).toContain(`table "${table}" has the wrong key schema`);
          expect(error.message).toContain(found);
          expect(error.message).toContain('exactly one HASH key "SessionId" of type S (string) and no RANGE key');
        }
      }
    });

    it('a call on a table that does not exist is a configuration error naming the table and the fix', async () => {
      const table = uniqueTableName('gone');
      const error = await rejection(createStore({ tableName: table }).getItem(newId()));
      // Still "unavailable" to clients (503), but classified apart from an outage.
      expect(error).toBeInstanceOf(SessionStateStoreMisconfiguredError);
      expect(error.message).toContain(`table "${table}"`);
      expect(error.message).toContain('does not exist');
      expect(error.message).toContain('createIfNotExists');
    });
  });

  describe('failures and timeouts', () => {
    it('a lock call refused for the configuration (access denied) is not settled as unanswered: one call, no revocation', async () => {
      const store = createStore();
      const id = newId();
      await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, null, true);
      const sent: string[] = [];
      const denied = Object.assign(new Error('User is not authorized to perform: dynamodb:UpdateItem'), {
        name: 'AccessDeniedException',
        $fault: 'client' as const,
        $metadata: { httpStatusCode: 400 },
      });
      injectDynamoDBFault(store.client, (operation) => (sent.push(operation), operation === 'UpdateItem' ? denied : undefined));
      expect(await rejection(store.getItemExclusive(id))).toBeInstanceOf(SessionStateStoreMisconfiguredError);
      expect(sent).toEqual(['UpdateItem']);
    });

    it('an unreachable endpoint is SessionStateStoreUnavailableError, quickly', async () => {
      const store = createStore({
        clientConfig: { ...localClientConfig(), endpoint: 'http://127.0.0.1:1' },
        requestTimeoutMs: 2_000,
        maxAttempts: 2,
      });
      const id = newId();
      const started = Date.now();
      const error = await rejection(store.getItem(id));
      expect(error).toBeInstanceOf(SessionStateStoreUnavailableError);
      expect(error.message).toContain(`table "${tableName}"`);
      expect(error.message).not.toContain(id);
      expect(error.cause).toBeDefined();
      expect(Date.now() - started).toBeLessThan(2_500);
      await expect(store.init()).rejects.toThrow(SessionStateStoreUnavailableError);
    });

    it('throttling on every call is SessionStateStoreUnavailableError for every operation', async () => {
      const store = createStore();
      injectDynamoDBFault(store.client, () => throttlingError());
      const id = newId();
      const operations: Array<() => Promise<unknown>> = [
        () => store.getItem(id),
        () => store.getItemExclusive(id),
        () => store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, 'lock', false),
        () => store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, null, true),
        () => store.releaseItemExclusive(id, 'lock'),
        () => store.removeItem(id, 'lock'),
        () => store.resetItemTimeout(id),
        () => store.createUninitializedItem(id, 20),
        () => store.init(),
      ];
      for (const operation of operations) {
        const error = await rejection(operation());
        expect(error).toBeInstanceOf(SessionStateStoreUnavailableError);
        expect((error.cause as Error).name).toBe('ThrottlingException');
        expect(error.message).not.toContain(id);
      }
    });

    it('a call that never answers is bounded by requestTimeoutMs', async () => {
      const store = createStore({ requestTimeoutMs: 300 });
      const remove = injectDynamoDBFault(store.client, () => 'hang');
      for (const operation of [() => store.getItemExclusive(newId()), () => store.init()]) {
        const started = Date.now();
        const error = await rejection(operation());
        expect(error).toBeInstanceOf(SessionStateStoreUnavailableError);
        expect(error.message).toContain('did not complete within 300 ms');
        expect(Date.now() - started).toBeGreaterThanOrEqual(290);
        expect(Date.now() - started).toBeLessThan(1_500);
      }
      // The store still works once DynamoDB answers again.
      remove();
      expect(flat(await store.getItem(newId())).item).toBeNull();
    });

    it('a lock taken by an attempt whose answer was lost is recognised on the retry', async () => {
      const store = createStore();
      const id = newId();
      await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
      let dropped = 0;
      // Inside the SDK's retry loop: the first UpdateItem reaches DynamoDB, then its answer is "lost".
      store.client.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          if (context.commandName === 'UpdateItemCommand' && dropped++ === 0) {
            throw Object.assign(new Error('answer lost'), { name: 'TimeoutError', $metadata: {} });
          }
          return result;
        },
        { step: 'deserialize', name: 'dropFirstAnswer' },
      );
      const calls = countDynamoDBCalls(store.client);
      const acquired = flat(await store.getItemExclusive(id));
      expect(dropped).toBe(2);
      expect(calls.calls()).toEqual(['UpdateItem']);
      expect(acquired.locked).toBe(false);
      expect(acquired.item?.items).toBe('{"n":1}');
      expect((await rawItem(id))?.LockId).toEqual({ S: acquired.lockId });
      expect(await store.releaseItemExclusive(id, acquired.lockId!)).toBe(true);
    });
  });

  describe('client ownership', () => {
    it('destroys the client it built, once, at close (and destroy)', () => {
      const store = createStore();
      const destroy = vi.spyOn(store.client, 'destroy');
      store.close();
      store.destroy();
      expect(destroy).toHaveBeenCalledTimes(1);
    });

    it('never destroys a client it was given', async () => {
      const client = new DynamoDBClient(localClientConfig());
      const destroy = vi.spyOn(client, 'destroy');
      const store = createStore({ client, clientConfig: undefined });
      expect(store.client).toBe(client);
      await store.init();
      store.close();
      expect(destroy).not.toHaveBeenCalled();
      expect(flat(await store.getItem(newId())).item).toBeNull();
      destroy.mockRestore();
      client.destroy();
    });
  });
});
