import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { meterCapacity } from '../support/consumed-capacity-middleware.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';

// session-layout.ts decided "inline" from the record it writes, which never holds the `AbortedLocks`
// the lock item already carries (up to 8 revoked lock ids, ~46 bytes each, kept 20 minutes). After a
// few lock calls that got no answer (a network blip), a session stored inline near the limit has a
// lock item over 1 KB, and each commit kept it inline: 2 WCU per lock operation for 20 minutes. A
// commit now counts the revoked ids the lock item keeps (learnt from the lock call's answer), so the
// first save after the blip moves the items to a data item and the lock item is under 1 KB again.
// (Reserving room for 8 in every lock item would move almost every small session to a data item:
// a GetItem more on every request, for a case that lasts 20 minutes.)
const { clientConfig, tableName, createStore } = await useDynamoDBTable('abortedcost');
let raw: DynamoDBClient;
const rawItem = async (key: string): Promise<Record<string, AttributeValue> | undefined> =>
  (await raw.send(new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: key } }, ConsistentRead: true }))).Item;
beforeAll(() => {
  raw = new DynamoDBClient({ ...clientConfig });
});
afterAll(() => raw.destroy());

it('a session stored inline near 1 KB, after 8 unanswered lock calls: from its next save on, its lock operations cost 1 WCU each', async () => {
  const store = createStore();
  // The largest notes the store still keeps inline (found through the store itself).
  let items = '';
  let id = '';
  for (let length = 900; length > 0; length -= 5) {
    id = generateSessionId();
    items = JSON.stringify({ notes: 'x'.repeat(length) });
    await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);
    if ((await rawItem(id))!.Items) break;
  }
  const slow = createStore({ requestTimeoutMs: 100, maxAttempts: 1 });
  slow.client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { UpdateExpression?: string };
      if (context.commandName === 'UpdateItemCommand' && input.UpdateExpression?.includes('#locked = :true')) return new Promise<never>(() => {});
      return next(args);
    },
    { step: 'initialize', name: 'hangLockCalls' },
  );
  for (let n = 0; n < 8; n++) await expect(slow.getItemExclusive(id)).rejects.toThrow(SessionStateStoreUnavailableError);

  // The first request after the blip: its lock item is over 1 KB (as it must be: the revocations
  // are there); its save counts them and moves the items to a data item.
  const first = flat(await store.getItemExclusive(id));
  await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, first.lockId, false);
  expect((await rawItem(id))!.AbortedLocks!.SS).toHaveLength(8);
  expect((await rawItem(id))!.DataId).toBeDefined();

  // Then a read-write request that changes nothing: lock, read the data item, release, 1 WCU each
  // (it was 2 UpdateItem of 2 WCU each, inline, for the 20 minutes the revocations are kept).
  const meter = meterCapacity(store.client);
  const { lockId, item } = flat(await store.getItemExclusive(id));
  expect(item?.items).toBe(items);
  expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
  expect(meter.calls()).toEqual(['UpdateItem', 'GetItem', 'UpdateItem']);
  expect(meter.wcu()).toBe(2);
});
