/**
 * Review: the store refuses to *write* items over maxItemBytes (1 MB by default), but decodes a
 * stored `g` field without any bound: a small hostile (or corrupted) gzip in Redis expands to
 * whatever it holds (here 64 MB from ~64 KB; 1,000x) in the request's memory, and a few hundred KB
 * of it is enough for gigabytes, which can take the process down (Buffers are outside the V8 heap
 * limit). Expected: a record whose items decompress past a bound (e.g. maxItemBytes x a factor) is
 * SessionStateCorruptError.
 * Fix: src/redis/redis-items-codec.ts decode(): gunzip with `maxOutputLength` (zlib option), and
 * map the RangeError to corruptRecord().
 */
import { gzipSync } from 'node:zlib';
import { createClient, type RedisClientType } from 'redis';
import { SessionStateCorruptError } from '../../src/errors/session-state.errors.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let admin: RedisClientType;
let store: RedisSessionStateStore;

beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  await admin.connect();
  store = new RedisSessionStateStore({ url: server.url, maxItemBytes: 1_000_000 });
  await store.init();
});
afterAll(async () => {
  await store?.close();
  admin?.destroy();
  await server?.stop();
});

describe('review: decompression is unbounded', () => {
  it('a stored gzip that expands far past maxItemBytes is refused as corrupt, not inflated into memory', async () => {
    const id = 'review-gzip-aaaaaaaaaaaaaaaaaaaaaa';
    const bomb = gzipSync(Buffer.from(`{"x":"${'0'.repeat(64 * 1024 * 1024)}"}`), { level: 9 });
    expect(bomb.length).toBeLessThan(100_000);
    await admin.hSet(store.key(id), { v: '1', e: String(Date.now() + 60_000), t: '20' });
    await admin.hSet(store.key(id), 'g', bomb);
    const read = await store.getItem(id).then(
      (r) => ({ kind: r.kind, bytes: r.kind === 'loaded' ? r.item.items.length : 0 }),
      (e: unknown) => e,
    );
    expect(read).toBeInstanceOf(SessionStateCorruptError);
  });
});
