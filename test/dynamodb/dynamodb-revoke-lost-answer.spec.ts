import { expect, it } from 'vitest';
import { generateSessionId } from '../../src/session/session-id.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';
import { loseFirstAnswer } from '../support/lose-answer-middleware.js';

// `deleteOwned` (revokeItem, revokeOwner) is a conditional DeleteItem with no write token: when
// DynamoDB applied it but its answer was lost, the SDK's retry fails the condition (the item is
// gone) and the store answered false, "not revoked": SessionManager.revoke() told the app the session
// was not signed out, and the owner's place in maxSessionsPerOwner's book was not given back.
// A retry refused on an absent item now answers true (the session is gone either way).
const { createStore } = await useDynamoDBTable('revokelost');

it('revokeItem whose DeleteItem was applied but its answer lost (the SDK retried): answers true', async () => {
  const store = createStore();
  const id = generateSessionId();
  await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner: 'ann' }, null, true);
  const loser = loseFirstAnswer(store.client, (operation) => operation === 'DeleteItem');
  const answer = await store.revokeItem(id, 'ann');
  expect(loser.lost()).toBe(1);
  expect(flat(await createStore().getItem(id)).kind).toBe('absent'); // it was revoked ...
  expect(answer).toBe(true); // ... and says so (it answered false)
});

it("revokeItem of an id that is not the owner's, or absent, still answers false", async () => {
  const store = createStore();
  const id = generateSessionId();
  await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner: 'ann' }, null, true);
  expect(await store.revokeItem(id, 'bob')).toBe(false);
  expect(await store.revokeItem(generateSessionId(), 'ann')).toBe(false);
  expect(flat(await store.getItem(id)).kind).toBe('loaded');
});
