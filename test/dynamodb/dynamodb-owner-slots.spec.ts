import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { meterCapacity } from '../support/consumed-capacity-middleware.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';

/*
 * What maxSessionsPerOwner's book costs on DynamoDB, in the units DynamoDB Local reports
 * (ReturnConsumedCapacity): a sign-in under the cap, and one at the cap that revokes the oldest.
 */
const tableName = uniqueTableName('owner-slots');
let store: DynamoDBSessionStateStore;
beforeAll(async () => {
  store = new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() });
  await store.init();
});
afterAll(async () => {
  store?.destroy();
  await deleteTable(tableName);
});

const pendingMs = 110_000;

async function signIn(owner: string, max: number, policy: 'refuse' | 'revoke-oldest' = 'refuse') {
  const id = generateSessionId();
  const answer = await store.claimOwnerSlot({ owner, id, max, policy, pendingMs });
  if (answer.admitted) await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner }, null, true);
  return { id, answer };
}

it("a claim under the cap is 1 WCU (the owner's first: its item made by a PutItem after the refused UpdateItem; later ones one UpdateItem) while the book holds up to 15 places", async () => {
  const meter = meterCapacity(store.client);
  const owner = `user-${generateSessionId()}`;
  try {
    for (let n = 0; n < 15; n++) {
      const id = generateSessionId();
      meter.reset();
      expect(await store.claimOwnerSlot({ owner, id, max: 20, policy: 'refuse', pendingMs })).toEqual({ admitted: true, revoked: 0 });
      expect({ n, calls: meter.calls(), wcu: meter.wcu(), rcu: meter.rcu() }).toEqual({
        n,
        calls: n === 0 ? ['UpdateItem', 'PutItem'] : ['UpdateItem'],
        wcu: 1,
        rcu: 0,
      });
    }
  } finally {
    meter.detach();
  }
});

it('at the cap, revoke-oldest: one consistent BatchGetItem of the book, the conditional DeleteItem, the UpdateItem that takes the place', async () => {
  const owner = `user-${generateSessionId()}`;
  const first = await signIn(owner, 3);
  await signIn(owner, 3);
  await signIn(owner, 3);
  const meter = meterCapacity(store.client);
  try {
    const { answer } = await signIn(owner, 3, 'revoke-oldest');
    expect(answer).toEqual({ admitted: true, revoked: 1 });
    // The refused UpdateItem reports no units (DynamoDB charges it 1 WCU): see consumed-capacity-middleware.ts.
    expect(meter.calls()).toEqual(['UpdateItem', 'BatchGetItem', 'DeleteItem', 'UpdateItem', 'PutItem']);
    // Three small key items read strongly consistent: 1 RCU each.
    expect(meter.rcu()).toBe(3);
    // The claim 1; the revoked session's delete and the new session's PutItem 2 each (the item and its Owner-index entry).
    expect(meter.wcu()).toBe(5);
    expect((await store.getItem(first.id)).kind).toBe('absent');
  } finally {
    meter.detach();
  }
});
