import { randomBytes } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';

// An unchanged hand-over (`handOverItemExclusive(…, false)`) slides the lock item's expiry and TTL
// without reading the data item (the next holder is handed the items). It used to leave the data
// item's TTL alone, so a session kept busy by one instance's queue past a day outlived its data
// item's TTL, and DynamoDB could delete the data item of a live session (read as corrupt: a new
// session, the data lost). The hand-over now extends it when due, as a load does, at most once per 12 h.
const clientConfig = await localClientConfig();
const tableName = uniqueTableName('handoverttl');
let time = Date.now();
let raw: DynamoDBClient;
let store: DynamoDBSessionStateStore;
beforeAll(async () => {
  raw = new DynamoDBClient({ ...clientConfig });
  store = new DynamoDBSessionStateStore({ clientConfig: { ...clientConfig }, tableName, createIfNotExists: true, clock: () => time });
  await store.init();
});
afterAll(async () => {
  store.destroy();
  await deleteTable(tableName);
  raw.destroy();
});

const rawItem = async (key: string): Promise<Record<string, AttributeValue> | undefined> =>
  (await raw.send(new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: key } }, ConsistentRead: true }))).Item;

it("a chain of unchanged hand-overs over a day: the data item's TTL still outlives the live session's", async () => {
  const id = generateSessionId();
  const items = JSON.stringify({ notes: randomBytes(2048).toString('hex') }); // 4 KB: kept in a data item
  await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);
  let held = flat(await store.getItemExclusive(id));
  let extensions = 0;
  store.client.middlewareStack.add(
    (next, context) => (args) => {
      const input = args.input as { UpdateExpression?: string };
      if (context.commandName === 'UpdateItemCommand' && input.UpdateExpression === 'SET #ttl = :ttl') extensions++;
      return next(args);
    },
    { step: 'initialize', name: 'countTtlExtensions' },
  );
  // One instance's queue never empties: each request hands the lock to the next, 10 minutes apart
  // (well within the 20-minute timeout), for 26 hours.
  for (let i = 0; i < 156; i++) {
    time += 10 * 60_000;
    held = flat(await store.handOverItemExclusive(id, held.item!, held.lockId!, false));
    expect(held.kind).toBe('acquired');
  }
  const lock = (await rawItem(id))!;
  const data = (await rawItem(`${id}#${lock.DataId!.S!}`))!;
  const sessionTtl = Number(lock.TTL!.N);
  const dataTtl = Number(data.TTL!.N);
  expect(Number(lock.Expires!.N)).toBeGreaterThan(time); // the session is live ...
  // ... and so is its data item (its TTL used to have passed: DynamoDB could delete it).
  expect(dataTtl).toBeGreaterThan(Math.ceil(time / 1000));
  expect(dataTtl).toBeGreaterThanOrEqual(sessionTtl);
  // At most once per 12 h: after about 12 h and 24 h of hand-overs (one write of the data item's size each).
  expect(extensions).toBe(2);
});
