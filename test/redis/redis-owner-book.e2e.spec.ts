import { createClient, type RedisClientType } from 'redis';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

/*
 * maxSessionsPerOwner's book on a real redis-server: without a TTL, kept by the owner index (the
 * sweep deletes it with the index), a book that went while sessions of its owner live on is made again
 * from the owner index, and revocations free places at once.
 */
let server: RedisServer;
let admin: RedisClientType;
let store: RedisSessionStateStore;
beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  await admin.connect();
  store = new RedisSessionStateStore({ url: server.url });
  await store.init();
});
afterAll(async () => {
  await store?.close();
  admin?.destroy();
  await server?.stop();
});

const pendingMs = 110_000;
const book = (owner: string) => `sess:owner:{${owner}}:cap`;

async function signIn(owner: string, max: number, policy: 'refuse' | 'revoke-oldest' = 'refuse') {
  const id = generateSessionId();
  const answer = await store.claimOwnerSlot({ owner, id, max, policy, pendingMs, keepMs: 20 * 60_000 });
  if (answer.admitted) await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner }, null, true);
  return { id, answer };
}

it("a claim enters the id in the owner index, needed for the claim's keepMs; neither the book nor the index has a TTL (no volatile-* policy evicts them)", async () => {
  const owner = `user-${generateSessionId()}`;
  const id = generateSessionId();
  const before = Date.now();
  const answer = await store.claimOwnerSlot({ owner, id, max: 3, policy: 'refuse', pendingMs, keepMs: 20 * 60_000 });
  expect(answer).toMatchObject({ admitted: true });
  // Claimed, not saved: the index holds its place for keepMs, and the owner is registered for the sweep as long.
  const held = Number(await admin.zScore(`sess:owner:{${owner}}`, id));
  expect(held).toBeGreaterThanOrEqual(before + 20 * 60_000);
  expect(Number(await admin.zScore('sess:owners', owner))).toBeGreaterThanOrEqual(held);
  await signIn(owner, 3);
  expect([await admin.pTTL(book(owner)), await admin.pTTL(`sess:owner:{${owner}}`)]).toEqual([-1, -1]);
});

it('a book that went while sessions of the owner live on is made again from the owner index: they still count', async () => {
  const owner = `user-${generateSessionId()}`;
  const first = await signIn(owner, 2);
  const second = await signIn(owner, 2);
  expect([first.answer.admitted, second.answer.admitted]).toEqual([true, true]);
  await admin.del(book(owner));
  expect((await signIn(owner, 2)).answer).toEqual({ admitted: false, live: 2 });
  const revoking = await signIn(owner, 2, 'revoke-oldest');
  expect(revoking.answer).toEqual({ admitted: true, revoked: 1 });
  const kinds = await Promise.all([first.id, second.id, revoking.id].map(async (id) => (await store.getItem(id)).kind));
  expect(kinds.sort()).toEqual(['absent', 'loaded', 'loaded']);
});

it('revokeItem and revokeOwner take the sessions out of the book in the same call', async () => {
  const owner = `user-${generateSessionId()}`;
  const one = await signIn(owner, 3);
  const two = await signIn(owner, 3);
  const three = await signIn(owner, 3);
  expect(await store.revokeItem(one.id, owner)).toBe(true);
  expect((await admin.zRange(book(owner), 0, -1)).sort()).toEqual([two.id, three.id].sort());
  expect(await store.revokeOwner(owner)).toBe(2);
  expect(await admin.exists(book(owner))).toBe(0);
});
