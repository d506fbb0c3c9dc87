import { createClient, type RedisClientType } from 'redis';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

/*
 * maxSessionsPerOwner's book on a real redis-server: its expiry is set by each claim (never left
 * without one), a book that went while sessions of its owner live on is made again from the owner
 * index, and revocations free places at once.
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

it("a claim sets the book's expiry to at least the claimed session's lifetime; the owner index's own script keeps it as long as the index", async () => {
  const owner = `user-${generateSessionId()}`;
  const answer = await store.claimOwnerSlot({ owner, id: generateSessionId(), max: 3, policy: 'refuse', pendingMs, keepMs: 20 * 60_000 });
  expect(answer).toMatchObject({ admitted: true });
  // Claimed, not saved (no index yet): the claim's own expiry.
  expect(await admin.pTTL(book(owner))).toBeGreaterThan(19 * 60_000);
  await signIn(owner, 3);
  expect(await admin.pTTL(book(owner))).toBeGreaterThanOrEqual((await admin.pTTL(`sess:owner:{${owner}}`)) - 1000);
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
