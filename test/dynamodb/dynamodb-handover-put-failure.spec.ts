import { randomBytes } from 'node:crypto';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { countDynamoDBCalls } from '../support/counting-middleware.js';
import { injectDynamoDBFault, throttlingError } from '../support/dynamodb-fault-middleware.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';

// A changed hand-over of a session kept in a data item writes the data item first. When that PutItem
// fails (throttled), the hand-over's UpdateItem was never sent, so nothing can land under the new
// lock id: it is not settled (it used to be: one more write, a revocation, 1 WCU, and one more
// revoked id in the lock item's AbortedLocks).
const { clientConfig, tableName, createStore } = await useDynamoDBTable('handoverput');
let raw: DynamoDBClient;
beforeAll(() => {
  raw = new DynamoDBClient({ ...clientConfig });
});
afterAll(() => raw.destroy());

it('a changed hand-over whose data PutItem is throttled: 503, no revocation written (its UpdateItem was never sent)', async () => {
  const store = createStore();
  const id = generateSessionId();
  const items = () => JSON.stringify({ notes: randomBytes(2048).toString('hex') });
  await store.setAndReleaseItemExclusive(id, { items: items(), timeout: 20 }, null, true);
  const held = flat(await store.getItemExclusive(id));
  injectDynamoDBFault(store.client, (operation) => (operation === 'PutItem' ? throttlingError() : undefined));
  const calls = countDynamoDBCalls(store.client);
  await expect(store.handOverItemExclusive(id, { items: items(), timeout: 20 }, held.lockId!, true)).rejects.toThrow(
    SessionStateStoreUnavailableError,
  );
  const item = (await raw.send(new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: id } }, ConsistentRead: true }))).Item!;
  // No UpdateItem (the throttled PutItem never reaches the counter), no revoked lock id.
  expect(calls.byCommand().UpdateItem).toBeUndefined();
  expect(item.AbortedLocks).toBeUndefined();
});
