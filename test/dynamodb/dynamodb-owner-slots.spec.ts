import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
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

it("a claim under the cap is 1 WCU (the owner's first: its item made by a PutItem after the refused UpdateItem and a Query of the owner index; later ones one UpdateItem) while the book holds up to 15 places", async () => {
  const meter = meterCapacity(store.client);
  const owner = `user-${generateSessionId()}`;
  try {
    for (let n = 0; n < 15; n++) {
      const id = generateSessionId();
      meter.reset();
      expect(await store.claimOwnerSlot({ owner, id, max: 20, policy: 'refuse', pendingMs })).toEqual({ admitted: true, revoked: 0 });
      expect({ n, calls: meter.calls(), wcu: meter.wcu(), rcu: meter.rcu() }).toEqual({
        n,
        calls: n === 0 ? ['UpdateItem', 'Query', 'PutItem'] : ['UpdateItem'],
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

/** The owner's book item, read as it is (its key: the store's layout, `#owner#` and the owner). */
const bookKey = (owner: string) => ({ SessionId: { S: `#owner#${owner}` } });

it("the owner's item gets the table's TTL at each claim (the claimed session's lifetime), so an abandoned owner's item goes", async () => {
  const owner = `user-${generateSessionId()}`;
  const before = Math.floor(Date.now() / 1000);
  expect(await store.claimOwnerSlot({ owner, id: generateSessionId(), max: 3, policy: 'refuse', pendingMs, keepMs: 20 * 60_000 })).toMatchObject({
    admitted: true,
  });
  const made = await store.client.send(new GetItemCommand({ TableName: tableName, Key: bookKey(owner), ConsistentRead: true }));
  const ttl = Number(made.Item?.TTL?.N);
  expect(ttl).toBeGreaterThanOrEqual(before + 20 * 60);
  expect(ttl).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 20 * 60 + 3600);
  // A later claim with a longer lifetime (absoluteTimeout of a day) moves it on.
  await store.claimOwnerSlot({ owner, id: generateSessionId(), max: 3, policy: 'refuse', pendingMs, keepMs: 24 * 3600_000 });
  const moved = await store.client.send(new GetItemCommand({ TableName: tableName, Key: bookKey(owner), ConsistentRead: true }));
  expect(Number(moved.Item?.TTL?.N)).toBeGreaterThanOrEqual(before + 24 * 3600);
});

it('a book that went (its TTL passed) while sessions of the owner live on is made again from the owner index: they still count', async () => {
  const owner = `user-${generateSessionId()}`;
  const first = await signIn(owner, 2);
  const second = await signIn(owner, 2);
  expect([first.answer, second.answer]).toEqual([
    { admitted: true, revoked: 0 },
    { admitted: true, revoked: 0 },
  ]);
  // DynamoDB's TTL deletes the item, as here, some time after its TTL passed.
  await store.client.send(new DeleteItemCommand({ TableName: tableName, Key: bookKey(owner) }));
  expect((await signIn(owner, 2)).answer).toEqual({ admitted: false, live: 2 });
  const revoking = await signIn(owner, 2, 'revoke-oldest');
  expect(revoking.answer).toEqual({ admitted: true, revoked: 1 });
  const kinds = await Promise.all([first.id, second.id, revoking.id].map(async (id) => (await store.getItem(id)).kind));
  expect(kinds.sort()).toEqual(['absent', 'loaded', 'loaded']);
});

it('a revocation frees the places in the same call: revokeItem one UpdateItem more, revokeOwner one more per 50 sessions', async () => {
  const owner = `user-${generateSessionId()}`;
  const one = await signIn(owner, 3);
  await signIn(owner, 3);
  await signIn(owner, 3);
  const meter = meterCapacity(store.client);
  try {
    expect(await store.revokeItem(one.id, owner)).toBe(true);
    expect(meter.calls()).toEqual(['DeleteItem', 'UpdateItem']);
    expect({ wcu: meter.wcu(), rcu: meter.rcu() }).toEqual({ wcu: 3, rcu: 0 });
    meter.reset();
    expect(await store.revokeOwner(owner)).toBe(2);
    expect(meter.calls()).toEqual(['Query', 'DeleteItem', 'DeleteItem', 'UpdateItem']);
    expect({ wcu: meter.wcu(), rcu: meter.rcu() }).toEqual({ wcu: 5, rcu: 0.5 });
    // The places are free: three sign-ins go through under 'refuse' without any check at the cap.
    meter.reset();
    for (let n = 0; n < 3; n++) expect((await signIn(owner, 3)).answer).toEqual({ admitted: true, revoked: 0 });
    expect(meter.calls().filter((c) => c === 'BatchGetItem')).toEqual([]);
  } finally {
    meter.detach();
  }
});

it("a re-login records its move (`Moved#{new id}`) in its one UpdateItem; another device's re-login meanwhile counts the pair once (one round more); giving back the old id settles the move", async () => {
  const owner = `user-${generateSessionId()}`;
  const first = await signIn(owner, 2);
  const second = await signIn(owner, 2);
  const relogin = (id: string, replacing: string) => store.claimOwnerSlot({ owner, id, replacing, max: 2, policy: 'refuse', pendingMs });
  const book = async () => (await store.client.send(new GetItemCommand({ TableName: tableName, Key: bookKey(owner), ConsistentRead: true }))).Item!;
  const meter = meterCapacity(store.client);
  try {
    const moved = generateSessionId();
    expect(await relogin(moved, first.id)).toEqual({ admitted: true, revoked: 0 });
    expect({ calls: meter.calls(), wcu: meter.wcu() }).toEqual({ calls: ['UpdateItem'], wcu: 1 });
    expect((await book())[`Moved#${moved}`]).toEqual({ S: first.id });

    // Device two signs in again before device one's save landed: the book holds three entries, two devices.
    meter.reset();
    expect(await relogin(generateSessionId(), second.id)).toEqual({ admitted: true, revoked: 0 });
    // The refused UpdateItem (reported as no units), the check of the two other entries (DynamoDB Local
    // reports 1 RCU: the stored one; the other is a save under way), the UpdateItem counting the pair once.
    expect({ calls: meter.calls(), wcu: meter.wcu(), rcu: meter.rcu() }).toEqual({
      calls: ['UpdateItem', 'BatchGetItem', 'UpdateItem'],
      wcu: 1,
      rcu: 1,
    });

    // Device one's move done: its old id's place given back, the move's record with it (one UpdateItem).
    meter.reset();
    await store.releaseOwnerSlot(owner, first.id, moved);
    expect({ calls: meter.calls(), wcu: meter.wcu() }).toEqual({ calls: ['UpdateItem'], wcu: 1 });
    const settled = await book();
    expect({ moved: settled[`Moved#${moved}`], old: settled['Slots']!.M![first.id] }).toEqual({ moved: undefined, old: undefined });
  } finally {
    meter.detach();
  }
});
