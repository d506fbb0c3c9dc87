import { InMemorySessionStateStore } from '../../src/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

/*
 * `movesUnderWay` takes the recorded moves in the book's order, each id in one pair at most; Redis's
 * CLAIM_OWNER_SLOT took them in Lua's `pairs()` order (a hash table's), found by review R6. With a chain
 * of moves under way (o -> n1 -> n2 -> n3, none given back yet), the two picked different pairs: the JS
 * side saw room, the script none, and the claim went round until its last round and was refused (of 24
 * owners, about 10; memory admitted all). Memory, which uses movesUnderWay itself, is the reference.
 */
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(() => redis?.stop());

async function chainThenOther(store: SessionStateStore, owner: string): Promise<boolean> {
  const claim = (id: string, replacing?: string) =>
    store.claimOwnerSlot!({
      owner,
      id: `${owner}-${id}`,
      ...(replacing ? { replacing: `${owner}-${replacing}` } : {}),
      max: 3,
      policy: 'refuse',
      pendingMs: 60_000,
    });
  expect((await claim('o')).admitted).toBe(true);
  expect((await claim('n1', 'o')).admitted).toBe(true);
  expect((await claim('n2', 'n1')).admitted).toBe(true);
  expect((await claim('n3', 'n2')).admitted).toBe(true);
  return (await claim('x')).admitted;
}

it('a chain of moves under way counts the same on Redis as on memory (movesUnderWay)', async () => {
  const redisStore = new RedisSessionStateStore({ url: redis.url, keyPrefix: 'r6order:' });
  await redisStore.init();
  const memory = new InMemorySessionStateStore();
  const results: { owner: string; memory: boolean; redis: boolean }[] = [];
  try {
    for (let i = 0; i < 24; i++) {
      const owner = `owner-${i}`;
      results.push({ owner, memory: await chainThenOther(memory, owner), redis: await chainThenOther(redisStore, owner) });
    }
  } finally {
    await redisStore.close?.();
    memory.close();
  }
  expect(results.filter((r) => r.memory !== r.redis)).toEqual([]);
});
