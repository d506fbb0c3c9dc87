import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionStateError, SessionStateLockLostError, SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { injectDynamoDBFault, throttlingError } from '../support/dynamodb-fault-middleware.js';
import { DynamoDBSessionStateStore, type DynamoDBSessionStateStoreOptions } from '../../src/dynamodb/index.js';
import { meterCapacity } from '../support/consumed-capacity-middleware.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { Gates } from '../support/gates.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { createTestSession } from '../../src/testing/index.js';
import { loseFirstAnswer } from '../support/lose-answer-middleware.js';
import { putVersion1Session } from '../support/v1-session-record.js';
import { flat } from '../../src/testing/flat-store-answer.js';

const clientConfig = await localClientConfig();
const tableName = uniqueTableName('layout');
let raw: DynamoDBClient;
let time = Date.now();
const stores: DynamoDBSessionStateStore[] = [];
/** Real session ids (the store tells applications sharing a table apart by their fixed length). */
const newId = generateSessionId;

function createStore(options: DynamoDBSessionStateStoreOptions = {}): DynamoDBSessionStateStore {
  const store = new DynamoDBSessionStateStore({ clientConfig: { ...clientConfig }, tableName, clock: () => time, ...options });
  stores.push(store);
  return store;
}

async function rawItem(key: string): Promise<Record<string, AttributeValue> | undefined> {
  return (await raw.send(new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: key } }, ConsistentRead: true }))).Item;
}

/** Write units DynamoDB charges for an item of this one's size: a copy put under a scratch key, metered. */
async function measureItemWriteUnits(item: Record<string, AttributeValue>): Promise<number> {
  const copy = { ...item, SessionId: { S: `scratch-${newId()}` } };
  const { ConsumedCapacity } = await raw.send(new PutItemCommand({ TableName: tableName, Item: copy, ReturnConsumedCapacity: 'TOTAL' }));
  return ConsumedCapacity!.CapacityUnits!;
}

/** A session whose notes are `kb` KB of random hex (so gzip halves them), as the issue measured. */
const notes = (kb: number) => JSON.stringify({ notes: randomBytes((kb * 1024) / 2).toString('hex') });

beforeAll(async () => {
  raw = new DynamoDBClient({ ...clientConfig });
  await createStore({ createIfNotExists: true }).init();
});
afterEach(() => {
  for (const store of stores.splice(0)) store.destroy();
  time = Date.now();
});
afterAll(async () => {
  await deleteTable(tableName);
  raw?.destroy();
});

describe('capacity units, counted from DynamoDB Local ConsumedCapacity (issue 7)', () => {
  for (const [kb, maxRcu] of [
    [40, 3],
    [200, 15],
  ] as const) {
    it(`${kb} KB session: read-write unchanged ≤ 2 WCU + ≤ ${maxRcu} RCU; every lock operation 1 WCU; a change ≤ its size + 2 WCU`, async () => {
      const store = createStore();
      const meter = meterCapacity(store.client);
      const id = newId();
      const items = notes(kb);
      await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);

      // Read-write, changes nothing: lock (1 WCU), read the data item, release (1 WCU).
      meter.reset();
      const { lockId, item } = flat(await store.getItemExclusive(id));
      expect(item?.items).toBe(items);
      expect(meter.wcu()).toBe(1);
      expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
      expect(meter.calls()).toEqual(['UpdateItem', 'GetItem', 'UpdateItem']);
      expect(meter.wcu()).toBe(2);
      expect(meter.rcu()).toBeLessThanOrEqual(maxRcu);

      // Read-only: the lock item and the data item, no write.
      meter.reset();
      expect(flat(await store.getItem(id)).item?.items).toBe(items);
      expect(meter.calls()).toEqual(['GetItem', 'GetItem']);
      expect(meter.wcu()).toBe(0);
      expect(meter.rcu()).toBeLessThanOrEqual(maxRcu + 1);

      // A poll of a waiting request (probeLock): the lock item alone, never the data item.
      meter.reset();
      expect(flat(await store.probeLock(id))).toMatchObject({ locked: false, item: null });
      expect(meter.calls()).toEqual(['GetItem']);
      expect(meter.rcu()).toBe(1);

      // The expiry slide of a read-only request: 1 WCU.
      meter.reset();
      await store.resetItemTimeout(id);
      expect(meter.wcu()).toBe(1);

      // A failed attempt on the held lock: one call, charged by the lock item's size (its error
      // reports no units, so the lock item is measured by DynamoDB through a metered copy).
      const held = flat(await store.getItemExclusive(id));
      meter.reset();
      const contended = flat(await store.getItemExclusive(id));
      expect(contended).toMatchObject({ locked: true, lockId: held.lockId });
      expect(meter.calls()).toEqual(['UpdateItem']);
      expect(await measureItemWriteUnits((await rawItem(id))!)).toBe(1);

      // Read-write that changes the session: the new data item's size + 1 WCU for the lock item.
      meter.reset();
      const changed = notes(kb);
      await store.setAndReleaseItemExclusive(id, { items: changed, timeout: 20 }, held.lockId, false);
      const storedKb = Math.ceil((gzipSync(changed).length + 200) / 1024);
      expect(meter.calls()).toEqual(['PutItem', 'UpdateItem']);
      expect(meter.wcu()).toBeLessThanOrEqual(storedKb + 1);
      expect(meter.wcu()).toBeGreaterThan(1);
      expect(flat(await store.getItem(id)).item?.items).toBe(changed);
    });
  }

  it('a session whose item fits in 1 KB stays in one item: read-write 2 calls / 2 WCU, read-only 1 call', async () => {
    const store = createStore();
    const meter = meterCapacity(store.client);
    const id = newId();
    const small = JSON.stringify({ notes: 'x'.repeat(500) });
    await store.setAndReleaseItemExclusive(id, { items: small, timeout: 20 }, null, true);
    expect((await rawItem(id))?.Items).toEqual({ S: small });

    for (const change of [false, true]) {
      meter.reset();
      const { lockId } = flat(await store.getItemExclusive(id));
      if (change) await store.setAndReleaseItemExclusive(id, { items: small.replace('x', 'y'), timeout: 20 }, lockId, false);
      else await store.releaseItemExclusive(id, lockId!);
      expect(meter.calls()).toEqual(['UpdateItem', 'UpdateItem']);
      expect(meter.wcu()).toBe(2);
    }
    meter.reset();
    flat(await store.getItem(id));
    expect(meter.calls()).toEqual(['GetItem']);
    expect(meter.rcu()).toBe(1);
  });
});

describe('lock hand-over (issue 10): the next request of the instance is locked in the same write', () => {
  for (const [label, items] of [
    ['a small session (inline)', JSON.stringify({ notes: 'x'.repeat(500) })],
    ['a 40 KB session (data item)', notes(40)],
  ] as const) {
    it(`${label}: an unchanged hand-over is 1 write of 1 WCU, a changed one what the save costs; no lock call for the next request`, async () => {
      const store = createStore();
      const meter = meterCapacity(store.client);
      const id = newId();
      await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);
      const first = flat(await store.getItemExclusive(id));

      meter.reset();
      const second = flat(await store.handOverItemExclusive(id, first.item!, first.lockId!, false));
      expect(meter.calls()).toEqual(['UpdateItem']);
      expect(meter.wcu()).toBe(1);
      expect(second.item?.items).toBe(items);

      meter.reset();
      const changed = items.replace('x', 'y').replace(/^(\{"notes":")(.)/, '$1z');
      const third = flat(await store.handOverItemExclusive(id, { items: changed, timeout: 20 }, second.lockId!, true));
      const save = label.includes('inline') ? ['UpdateItem'] : ['PutItem', 'UpdateItem'];
      expect(meter.calls()).toEqual(save);
      if (label.includes('inline')) expect(meter.wcu()).toBe(1);
      expect(flat(await store.probeLock(id)).lockId).toBe(third.lockId);

      // The new holder reads nothing: it was handed the items. Its own save is an ordinary one.
      meter.reset();
      await store.setAndReleaseItemExclusive(id, { items: changed, timeout: 20 }, third.lockId, false);
      expect(meter.calls()).toEqual(save);
      expect(flat(await createStore().getItem(id)).item?.items).toBe(changed);
    });
  }

  it('a hand-over whose answer was lost (the SDK retried it): the next holder has the lock, applied once', async () => {
    const store = createStore();
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
    const { lockId } = flat(await store.getItemExclusive(id));
    const lose = loseFirstAnswer(store.client, (operation, input) => operation === 'UpdateItem' && 'ConditionExpression' in input);
    const next = flat(await store.handOverItemExclusive(id, { items: '{"n":2}', timeout: 20 }, lockId!, true));
    expect(lose.lost()).toBe(1);
    lose.remove();
    expect(flat(await store.probeLock(id)).lockId).toBe(next.lockId);
    await store.setAndReleaseItemExclusive(id, { items: '{"n":3}', timeout: 20 }, next.lockId, false);
    expect(flat(await store.getItem(id)).item?.items).toBe('{"n":3}');
  });
});

describe('fencing with the data apart from the lock', () => {
  it("a stale holder's data write that lands after the new holder's commit never replaces the newer data", async () => {
    const stale = createStore();
    const current = createStore();
    const id = newId();
    await stale.setAndReleaseItemExclusive(id, { items: notes(8), timeout: 20 }, null, true);
    const staleLock = flat(await stale.getItemExclusive(id));

    // The stale holder's data write is held at its SDK middleware...
    const gates = new Gates();
    stale.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutItemCommand') await gates.pass('stale data write');
        return next(args);
      },
      { step: 'initialize', name: 'holdStaleDataWrite' },
    );
    const staleCommit = stale.setAndReleaseItemExclusive(id, { items: notes(8), timeout: 20 }, staleLock.lockId, false);
    await gates.arrived('stale data write');

    // ...while another instance breaks the lock as stale and commits.
    expect(await current.releaseItemExclusive(id, staleLock.lockId!)).toBe(true);
    const currentLock = flat(await current.getItemExclusive(id));
    const newer = notes(8);
    await current.setAndReleaseItemExclusive(id, { items: newer, timeout: 20 }, currentLock.lockId, false);

    // Then the stale write goes through: it gets a 409, and the newer data stays.
    gates.open('stale data write');
    await expect(staleCommit).rejects.toThrow(SessionStateLockLostError);
    expect(flat(await current.getItem(id)).item?.items).toBe(newer);
    expect(flat(await createStore().getItemExclusive(id)).item?.items).toBe(newer);
  });
});

describe('reading the data item fails after the lock was taken', () => {
  it('the lock is released before the error is thrown', async () => {
    const store = createStore();
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: notes(8), timeout: 20 }, null, true);
    const remove = injectDynamoDBFault(store.client, (operation) => (operation === 'GetItem' ? throttlingError() : undefined));
    await expect(store.getItemExclusive(id)).rejects.toThrow(SessionStateStoreUnavailableError);
    remove();
    expect((await rawItem(id))?.Locked).toEqual({ BOOL: false });
    expect(flat(await store.getItemExclusive(id)).locked).toBe(false);
  });
});

/** The lock item's size as DynamoDB counts it (names and values; a number counted at its 21-byte maximum). */
function itemBytes(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    size += Buffer.byteLength(name);
    if (value.S !== undefined) size += Buffer.byteLength(value.S);
    else if (value.B !== undefined) size += value.B.byteLength;
    else if (value.N !== undefined) size += 21;
    else if (value.SS !== undefined) for (const entry of value.SS) size += Buffer.byteLength(entry);
    else size += 1;
  }
  return size;
}

/** One read-write request's store calls: lock, then save `items` (or release, unchanged, without). */
async function readWrite(store: DynamoDBSessionStateStore, id: string, items?: string): Promise<void> {
  const { lockId, locked, item } = flat(await store.getItemExclusive(id));
  expect(locked).toBe(false);
  expect(item).not.toBeNull();
  if (items === undefined) expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
  else await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, lockId, false);
}

describe('a burst of writes (issue 16, item 2): the bookkeeping of recent writes is bounded', () => {
  it('320 writes on one session, then past the point where old write tokens used to be pruned: every later read-write request succeeds and saves', async () => {
    const store = createStore({ requestTimeoutMs: 1_000 });
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":0}', timeout: 20 }, null, true);
    for (let n = 1; n <= 320; n++) {
      time += 10;
      await readWrite(store, id, JSON.stringify({ n }));
    }
    // Past requestTimeoutMs + 10 s: the old scheme's next holder removed every token in one expression.
    time += 12_000;
    for (let n = 321; n <= 325; n++) {
      await readWrite(store, id, JSON.stringify({ n }));
      expect(flat(await store.getItem(id)).item?.items).toBe(JSON.stringify({ n }));
    }
    expect(itemBytes((await rawItem(id))!)).toBeLessThan(1024);
  });

  it('40 lock calls that got no answer (each revoked in AbortedLocks), then a healthy lock and release: the lock item stays under 1 KB', async () => {
    const id = newId();
    await createStore().setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
    const slow = createStore({ requestTimeoutMs: 100, maxAttempts: 1 });
    // Lock calls never answer (the bounded call gives up, and the store revokes the call's lock id).
    slow.client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { UpdateExpression?: string };
        if (context.commandName === 'UpdateItemCommand' && input.UpdateExpression?.includes('#locked = :true')) return new Promise<never>(() => {});
        return next(args);
      },
      { step: 'initialize', name: 'hangLockCalls' },
    );
    for (let n = 0; n < 40; n++) await expect(slow.getItemExclusive(id)).rejects.toThrow(SessionStateStoreUnavailableError);
    expect((await rawItem(id))!.AbortedLocks?.SS).toHaveLength(40);
    await readWrite(createStore(), id);
    const item = (await rawItem(id))!;
    expect(item.AbortedLocks?.SS?.length ?? 0).toBeLessThanOrEqual(8);
    expect(itemBytes(item)).toBeLessThan(1024);
    await readWrite(createStore(), id, '{"n":2}');
    expect(flat(await createStore().getItem(id)).item?.items).toBe('{"n":2}');
  });

  it('400 writes within the retry window: the lock item stays under 1 KB (1 WCU per lock operation)', async () => {
    const store = createStore();
    const id = newId();
    const items = JSON.stringify({ notes: 'x'.repeat(300) });
    await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);
    for (let n = 0; n < 400; n++) await readWrite(store, id, n % 2 ? items : undefined);
    const item = (await rawItem(id))!;
    expect(item.Items).toEqual({ S: items });
    expect(itemBytes(item)).toBeLessThan(1024);
    expect(await measureItemWriteUnits(item)).toBe(1);
  });

  it('40 KB session after a burst of 40 writes: an unchanged read-write request costs 2 WCU (counted from ConsumedCapacity)', async () => {
    const store = createStore();
    const meter = meterCapacity(store.client);
    const id = newId();
    const items = notes(40);
    await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);
    for (let n = 0; n < 40; n++) await readWrite(store, id);
    meter.reset();
    await readWrite(store, id);
    expect(meter.calls()).toEqual(['UpdateItem', 'GetItem', 'UpdateItem']);
    expect(meter.wcu()).toBe(2);
    expect(itemBytes((await rawItem(id))!)).toBeLessThan(1024);
  });

  it('a session already carrying hundreds of write tokens of the old scheme works again and shrinks', async () => {
    const store = createStore({ requestTimeoutMs: 1_000 });
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":0}', timeout: 20 }, null, true);
    // As 0.2 left it after a burst: one `Write:{token}` attribute per write, too many to remove in one expression.
    const legacy = { ...(await rawItem(id))! };
    for (let i = 0; i < 400; i++) legacy[`Write:${randomBytes(9).toString('base64url')}`] = { N: String(time - 60_000 + i) };
    await raw.send(new PutItemCommand({ TableName: tableName, Item: legacy }));
    let size = itemBytes(legacy);
    expect(size).toBeGreaterThan(10_000);

    for (let n = 1; n <= 8; n++) {
      await readWrite(store, id, JSON.stringify({ n }));
      expect(flat(await store.getItem(id)).item?.items).toBe(JSON.stringify({ n }));
      const shrunk = itemBytes((await rawItem(id))!);
      expect(shrunk).toBeLessThan(size);
      size = shrunk;
      if (size < 1024) break;
    }
    expect(size).toBeLessThan(1024);
    expect(Object.keys((await rawItem(id))!).filter((name) => name.startsWith('Write:'))).toEqual([]);
  });
});

describe('a prune DynamoDB refuses (issue 16, item 2)', () => {
  it('the save is made without it, and a later write still prunes: never a failed save, never a prune spent without effect', async () => {
    const store = createStore({ requestTimeoutMs: 1_000 });
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":0}', timeout: 20 }, null, true);
    const legacy = { ...(await rawItem(id))! };
    for (let i = 0; i < 50; i++) legacy[`Write:${randomBytes(9).toString('base64url')}`] = { N: String(time - 60_000) };
    await raw.send(new PutItemCommand({ TableName: tableName, Item: legacy }));
    // A refusal DynamoDB no longer gives for the store's bounded expressions: injected at the client.
    let refused = 0;
    store.client.middlewareStack.add(
      (next) => async (args) => {
        const expression = String((args.input as { UpdateExpression?: string }).UpdateExpression ?? '');
        if (refused === 0 && expression.includes('#oldWrite0')) {
          refused++;
          throw Object.assign(new Error('Invalid UpdateExpression: Expression size has exceeded the maximum allowed size'), {
            name: 'ValidationException',
            $fault: 'client',
            $metadata: { httpStatusCode: 400, attempts: 1 },
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'refuseFirstPrune' },
    );
    const legacyCount = async () => Object.keys((await rawItem(id))!).filter((name) => name.startsWith('Write:')).length;

    await readWrite(store, id, '{"n":1}');
    expect(refused).toBe(1);
    expect(flat(await store.getItem(id)).item?.items).toBe('{"n":1}');
    expect(await legacyCount()).toBe(50);
    await readWrite(store, id, '{"n":2}');
    expect(flat(await store.getItem(id)).item?.items).toBe('{"n":2}');
    expect(await legacyCount()).toBe(0);
  });
});

describe('superseded data and its TTL', () => {
  it('old data items are left to TTL; the current one is extended before the session could outlive it', async () => {
    const store = createStore();
    const id = newId();
    const day = 24 * 60;
    await store.setAndReleaseItemExclusive(id, { items: notes(4), timeout: day }, null, true);
    const first = (await rawItem(id))!.DataId!.S!;
    const firstTtl = Number((await rawItem(`${id}#${first}`))!.TTL!.N);
    expect(firstTtl).toBe(Math.ceil(time / 1000) + 300 + day * 60 + 86_400);

    const { lockId } = flat(await store.getItemExclusive(id));
    await store.setAndReleaseItemExclusive(id, { items: notes(4), timeout: day }, lockId, false);
    const second = (await rawItem(id))!.DataId!.S!;
    expect(second).not.toBe(first);
    // The superseded data item is not deleted (a delete costs its size); its TTL removes it.
    expect(Number((await rawItem(`${id}#${first}`))!.TTL!.N)).toBe(firstTtl);

    // 11 h later: still a day of margin left, no extension.
    time += 11 * 3_600_000;
    flat(await store.getItem(id));
    const secondTtl = Number((await rawItem(`${id}#${second}`))!.TTL!.N);
    expect(secondTtl).toBe(firstTtl);
    // 13 h later: the session, slid now, would come within 12 h of it: extended by a day.
    time += 2 * 3_600_000;
    flat(await store.getItem(id));
    expect(Number((await rawItem(`${id}#${second}`))!.TTL!.N)).toBe(Math.ceil(time / 1000) + 300 + day * 60 + 86_400);
  });
});

describe('records of version 0.1 (record format 1)', () => {
  it('are read, locked and released as they are, and move to the new layout on their next write', async () => {
    const store = createStore();
    const meter = meterCapacity(store.client);
    const id = newId();
    const items = notes(40);
    const { item: v1 } = await putVersion1Session(raw, { tableName, key: id, items, now: time });
    expect(v1.Items?.B).toBeDefined();

    expect(flat(await store.getItem(id)).item?.items).toBe(items);
    const first = flat(await store.getItemExclusive(id));
    expect(first.item?.items).toBe(items);
    expect(await store.releaseItemExclusive(id, first.lockId!)).toBe(true);
    expect((await rawItem(id))?.Version).toEqual({ N: '1' });

    const second = flat(await store.getItemExclusive(id));
    await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, second.lockId, false);
    const migrated = (await rawItem(id))!;
    // Over 1 KB: the items move to a data item, and the record says so.
    expect(migrated.Version).toEqual({ N: '2' });
    expect(migrated.Items).toBeUndefined();
    expect(migrated.DataId?.S).toEqual(expect.any(String));

    // From now on the lock costs 1 WCU.
    meter.reset();
    const third = flat(await store.getItemExclusive(id));
    expect(third.item?.items).toBe(items);
    await store.releaseItemExclusive(id, third.lockId!);
    expect(meter.wcu()).toBe(2);
  });

  it('a lock held by a version 0.1 request is reported, can be broken as stale, and fences that request out', async () => {
    const store = createStore();
    const id = newId();
    const { lockId } = await putVersion1Session(raw, { tableName, key: id, items: '{"n":1}', now: time - 5_000, locked: true });
    const contended = flat(await store.getItemExclusive(id));
    expect(contended).toMatchObject({ locked: true, lockId, lockAge: 5_000 });
    expect(flat(await store.getItem(id)).lockId).toBe(lockId);
    expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
    const taken = flat(await store.getItemExclusive(id));
    expect(taken.item?.items).toBe('{"n":1}');
    await store.setAndReleaseItemExclusive(id, { items: '{"n":2}', timeout: 20 }, taken.lockId, false);
    // Small: still inline, so still a record 0.1 can read.
    expect(await rawItem(id)).toMatchObject({ Version: { N: '1' }, Items: { S: '{"n":2}' } });
    expect((await rawItem(id))?.DataId).toBeUndefined();
  });
});

describe('owner', () => {
  it('is a top-level Owner string on the session item, returned on load, removed when the data has none', async () => {
    const store = createStore();
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: notes(4), timeout: 20, owner: 'user-42' }, null, true);
    expect((await rawItem(id))?.Owner).toEqual({ S: 'user-42' });
    expect(flat(await store.getItem(id)).item?.owner).toBe('user-42');
    const { lockId, item } = flat(await store.getItemExclusive(id));
    expect(item?.owner).toBe('user-42');
    await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, lockId, false);
    expect((await rawItem(id))?.Owner).toBeUndefined();
    expect(flat(await store.getItem(id)).item).toEqual({ items: '{}', timeout: 20 });
  });

  it('revokeOwner removes every session of that owner in this application; their holders cannot save', async () => {
    const shop = createStore({ application: 'shop' });
    const blog = createStore({ application: 'blog' });
    const owner = `user-${newId()}`;
    const [a, b, c, other, unowned] = [newId(), newId(), newId(), newId(), newId()];
    await shop.setAndReleaseItemExclusive(a, { items: '{"a":1}', timeout: 20, owner }, null, true);
    await shop.setAndReleaseItemExclusive(b, { items: notes(8), timeout: 20, owner }, null, true);
    await shop.setAndReleaseItemExclusive(c, { items: '{"c":1}', timeout: 20, owner }, null, true);
    await shop.setAndReleaseItemExclusive(other, { items: '{}', timeout: 20, owner: `${owner}-2` }, null, true);
    await shop.setAndReleaseItemExclusive(unowned, { items: '{}', timeout: 20 }, null, true);
    await blog.setAndReleaseItemExclusive(a, { items: '{"blog":1}', timeout: 20, owner }, null, true);
    const holder = flat(await shop.getItemExclusive(c));

    expect(await shop.revokeOwner(owner)).toBe(3);
    for (const id of [a, b, c]) expect(flat(await shop.getItem(id)).item).toBeNull();
    await expect(shop.setAndReleaseItemExclusive(c, { items: '{"c":2}', timeout: 20, owner }, holder.lockId, false)).rejects.toThrow(
      SessionStateLockLostError,
    );
    expect(flat(await shop.getItem(c)).item).toBeNull();
    expect(flat(await shop.getItem(other)).item?.owner).toBe(`${owner}-2`);
    expect(flat(await shop.getItem(unowned)).item).not.toBeNull();
    expect(flat(await blog.getItem(a)).item).toEqual({ items: '{"blog":1}', timeout: 20, owner });
    expect(await shop.revokeOwner(owner)).toBe(0);
  });

  it('the longest owner accepted (1024 bytes of UTF-8) is saved and revoked on DynamoDB; 700 CJK characters are refused before the save', async () => {
    const store = createStore();
    const id = newId();
    const longest = `${'漢'.repeat(341)}${newId().slice(0, 1)}`;
    const session = createTestSession();
    session.owner = longest;
    expect(() => (session.owner = '漢'.repeat(700))).toThrow(/at most 1024 bytes \(UTF-8\).*got 2100 bytes/);
    await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner: session.owner }, null, true);
    expect(flat(await store.getItem(id)).item?.owner).toBe(longest);
    expect(await store.revokeOwner(longest)).toBe(1);
  });

  it("revokeOwner never touches another application's sessions, whichever name is a prefix of the other, nor an unprefixed app's", async () => {
    const shop = createStore({ application: 'shop' });
    const shopAdmin = createStore({ application: 'shop-admin' });
    const bare = createStore();
    const owner = `user-${newId()}`;
    // Real session ids (32 characters, '-' among them); one of shop's starts like shop-admin's keys.
    const [shopId, adminId, bareId] = [generateSessionId(), generateSessionId(), generateSessionId()];
    const shopIdLikeAdmin = `admin-${generateSessionId().slice(6)}`;
    for (const [store, id] of [
      [shop, shopId],
      [shop, shopIdLikeAdmin],
      [shopAdmin, adminId],
      [bare, bareId],
    ] as const) {
      await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20, owner }, null, true);
    }
    expect(await shop.revokeOwner(owner)).toBe(2);
    expect(flat(await shopAdmin.getItem(adminId)).item).toEqual({ items: '{"n":1}', timeout: 20, owner });
    expect(flat(await bare.getItem(bareId)).item).toEqual({ items: '{"n":1}', timeout: 20, owner });
    expect(await bare.revokeOwner(owner)).toBe(1);
    expect(flat(await shopAdmin.getItem(adminId)).item).toEqual({ items: '{"n":1}', timeout: 20, owner });
    expect(await shopAdmin.revokeOwner(owner)).toBe(1);
    for (const [store, id] of [
      [shop, shopId],
      [shop, shopIdLikeAdmin],
      [shopAdmin, adminId],
      [bare, bareId],
    ] as const) {
      expect(flat(await store.getItem(id)).item).toBeNull();
    }
  });

  it("listOwnerSessions and revokeItem see only this application's sessions, by their unprefixed ids; a list costs no write", async () => {
    const shop = createStore({ application: 'shop' });
    const shopAdmin = createStore({ application: 'shop-admin' });
    const bare = createStore();
    const owner = `user-${newId()}`;
    const [shopId, adminId, bareId] = [generateSessionId(), generateSessionId(), generateSessionId()];
    const shopIdLikeAdmin = `admin-${generateSessionId().slice(6)}`;
    for (const [store, id] of [
      [shop, shopId],
      [shop, shopIdLikeAdmin],
      [shopAdmin, adminId],
      [bare, bareId],
    ] as const) {
      await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20, owner, created: time, client: 'c' }, null, true);
    }
    const before = await rawItem(`shop-${shopId}`);
    const listed = await shop.listOwnerSessions(owner);
    expect(listed.map((s) => s.id).sort()).toEqual([shopId, shopIdLikeAdmin].sort());
    expect(listed[0]).toMatchObject({ timeout: 20, created: time, client: 'c', expires: time + 20 * 60_000 });
    expect(await rawItem(`shop-${shopId}`)).toEqual(before);
    expect((await shopAdmin.listOwnerSessions(owner)).map((s) => s.id)).toEqual([adminId]);
    expect((await bare.listOwnerSessions(owner)).map((s) => s.id)).toEqual([bareId]);
    expect(await shop.revokeItem(adminId, owner)).toBe(false);
    expect(await shop.revokeItem(shopIdLikeAdmin, owner)).toBe(true);
    expect(flat(await shopAdmin.getItem(adminId)).item).toMatchObject({ owner });
    expect((await shop.listOwnerSessions(owner)).map((s) => s.id)).toEqual([shopId]);
  });

  it('revokeOwner and listOwnerSessions on a table without the Owner index are a clear error', async () => {
    const bare = uniqueTableName('no-owner-index');
    await raw.send(
      new CreateTableCommand({
        TableName: bare,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'SessionId', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'SessionId', KeyType: 'HASH' }],
      }),
    );
    try {
      const store = createStore({ tableName: bare });
      for (const call of [() => store.revokeOwner('someone'), () => store.listOwnerSessions('someone')]) {
        const error = await call().catch((e: unknown) => e as Error);
        expect(error).toBeInstanceOf(SessionStateError);
        expect((error as Error).message).toContain('has no "Owner-index" index, which revokeOwner and listOwnerSessions need');
      }
    } finally {
      await deleteTable(bare);
    }
  });
});
