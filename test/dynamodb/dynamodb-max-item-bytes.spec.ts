import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SessionStateTooLargeError } from '../../src/errors/session-state.errors.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';

// DYNAMODB.md: `maxItemBytes` is the largest item written, a larger session a 413. It was checked
// on a data item only: a session small enough to stay inline in its lock item was written whatever
// the limit (the option takes 1 to 409 600).
const table = await useDynamoDBTable('maxitembytes');
let raw: DynamoDBClient;
beforeAll(() => {
  raw = new DynamoDBClient(table.clientConfig);
});
afterAll(() => raw?.destroy());
let n = 0;
const newId = () => `maxitembytes${String(n++).padStart(20, '0')}`;
const lockItem = async (id: string) =>
  (await raw.send(new GetItemCommand({ TableName: table.tableName, Key: { SessionId: { S: id } }, ConsistentRead: true }))).Item;

describe('DynamoDB maxItemBytes, for a session small enough to stay inline', () => {
  it('a session whose item would be larger than maxItemBytes is refused (413), nothing written', async () => {
    const store = table.createStore({ maxItemBytes: 300 });
    const id = newId();
    const items = JSON.stringify({ notes: 'n'.repeat(400) });
    await expect(store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true)).rejects.toThrow(SessionStateTooLargeError);
    expect(await lockItem(id)).toBeUndefined();
  });

  it('one whose inline record is over the limit only for what stays on the lock item (a long owner) goes to a data item under it', async () => {
    const store = table.createStore({ maxItemBytes: 500 });
    const id = newId();
    const items = JSON.stringify({ notes: 'n'.repeat(150) });
    await store.setAndReleaseItemExclusive(id, { items, timeout: 20, owner: 'o'.repeat(300) }, null, true);
    expect((await lockItem(id))?.Items).toBeUndefined();
    expect(flat(await store.getItem(id)).item?.items).toBe(items);
  });

  it('under the limit, a small session stays inline', async () => {
    const store = table.createStore({ maxItemBytes: 600 });
    const id = newId();
    await store.setAndReleaseItemExclusive(id, { items: '{"a":1}', timeout: 20 }, null, true);
    expect((await lockItem(id))?.Items).toEqual({ S: '{"a":1}' });
  });
});
