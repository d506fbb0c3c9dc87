import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { startHoldingProxy, type HoldingProxy } from '../support/dynamodb-holding-proxy.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';
import { Gates } from '../support/gates.js';

// A lock call gets no answer within requestTimeoutMs; its revocation gets none either (both still
// in flight). The store used to fire one release at once: it overtook them (another connection),
// found nothing to release, then the lock call landed, then the revocation, whose answer (showing
// the lock) nobody read: the session stayed locked by a request that gave up, until executionTimeout.
// Now no release is sent without a revocation's answer: the revocation (an idempotent ADD) is sent
// again in the background until one is answered, and the lock released if that answer shows it.
const { clientConfig, tableName, createStore } = await useDynamoDBTable('slowrevoke');
let raw: DynamoDBClient;
let proxy: HoldingProxy | undefined;
const rawItem = async (key: string): Promise<Record<string, AttributeValue> | undefined> =>
  (await raw.send(new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: key } }, ConsistentRead: true }))).Item;
beforeAll(() => {
  raw = new DynamoDBClient({ ...clientConfig });
});
// Before the helper's clean-up destroys the stores (it runs after this).
afterEach(() => proxy?.close());
afterAll(() => raw.destroy());

it('a lock call and its revocation both slow: nothing is released before a revocation is answered, then the lock that landed is', async () => {
  const id = generateSessionId();
  await createStore().setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
  const gates = new Gates();
  const answers = new Map<string, (text: string) => void>();
  const answered = (name: string) => new Promise<string>((resolve) => answers.set(name, resolve));
  const lockAnswer = answered('lock');
  const revokeAnswer = answered('revoke');
  const releaseAnswer = answered('release');
  proxy = await startHoldingProxy(clientConfig.endpoint as string, (operation, body) => {
    if (operation !== 'UpdateItem') return undefined;
    // Slow on their way to DynamoDB (forwarded only when the test says, whatever the client did).
    if (body.includes('#locked = :true, #lockId = :lockId'))
      return { request: gates.pass('lock'), answered: (_s, text) => answers.get('lock')!(text) };
    if (body.includes('ADD #abortedLocks')) return { request: gates.pass('revoke'), answered: (_s, text) => answers.get('revoke')!(text) };
    if (body.includes('REMOVE #lockId')) return { answered: (_s, text) => answers.get('release')!(text) };
    return undefined;
  });
  const store = createStore({ clientConfig: { ...clientConfig, endpoint: proxy.endpoint }, requestTimeoutMs: 300, maxAttempts: 1 });

  await expect(store.getItemExclusive(id)).rejects.toThrow(SessionStateStoreUnavailableError);
  gates.open('lock');
  expect(await lockAnswer).not.toContain('ConditionalCheckFailedException'); // the lock landed
  gates.open('revoke');
  expect(await revokeAnswer).toContain('"LockId"'); // the first revocation's answer (read by nobody) shows it
  // A revocation sent again is answered, shows the lock, and only then is it released.
  expect(await releaseAnswer).not.toContain('ConditionalCheckFailedException');

  expect((await rawItem(id))?.Locked).toEqual({ BOOL: false });
  expect(flat(await createStore().getItemExclusive(id)).kind).toBe('acquired');
});
