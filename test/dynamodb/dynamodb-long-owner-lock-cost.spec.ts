import { expect, it } from 'vitest';
import { generateSessionId } from '../../src/session/session-id.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { meterCapacity } from '../support/consumed-capacity-middleware.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';

// `Owner` (up to 1024 bytes, USAGE.md) lives on the lock item, which stays under 1 KB only for an
// owner of ordinary length. With a long owner the lock item is over 1 KB whatever the layout, so the
// store no longer moves a small session to a data item for it (that added a PutItem per change and a
// GetItem per request, and the lock item stayed over 1 KB anyway): the session stays inline, and each
// lock operation costs 2 WCU (docs/DYNAMODB.md, SESSIONS-PER-USER.md). Counted from DynamoDB Local's ConsumedCapacity.
const { createStore } = await useDynamoDBTable('ownercost');

it.each([
  ['a short owner', 2, 'user-42'],
  ['an owner of 1000 bytes (accepted: at most 1024)', 4, 'u'.repeat(1000)],
])('%s: an unchanged read-write request of a small session is 2 calls (lock, release), %i WCU', async (_label, wcu, owner) => {
  const store = createStore();
  const id = generateSessionId();
  await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20, owner }, null, true);
  const meter = meterCapacity(store.client);
  const { lockId } = flat(await store.getItemExclusive(id));
  expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
  // No data item for a 7-byte session, even with the long owner (it had one: a GetItem more per request).
  expect({ calls: meter.calls(), wcu: meter.wcu() }).toEqual({ calls: ['UpdateItem', 'UpdateItem'], wcu });
});
