/**
 * Decompression is bounded: the store writes at most maxItemBytes (compressed), and a stored `g`
 * field expands on read to at most 32 x maxItemBytes. A small hostile or corrupted gzip (here ~16 KB
 * that holds 16 MB) is a SessionStateCorruptError, zlib stopping at the bound, never the whole of it
 * inflated into the request's memory; items too large to be read back are refused at write.
 */
import { gzipSync } from 'node:zlib';
import { createClient, type RedisClientType } from 'redis';
import { SessionStateCorruptError, SessionStateTooLargeError } from '../../src/errors/session-state.errors.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let admin: RedisClientType;
let store: RedisSessionStateStore;

beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  await admin.connect();
  store = new RedisSessionStateStore({ url: server.url, maxItemBytes: 100_000 });
  await store.init();
});
afterAll(async () => {
  await store?.close();
  admin?.destroy();
  await server?.stop();
});

describe('RedisSessionStateStore: bounded decompression', () => {
  it('a stored gzip that expands far past maxItemBytes is refused as corrupt, not inflated into memory', async () => {
    const id = 'gzip-bomb-aaaaaaaaaaaaaaaaaaaaaaaa';
    const bomb = gzipSync(Buffer.from(`{"x":"${'0'.repeat(16 * 1024 * 1024)}"}`), { level: 9 });
    expect(bomb.length).toBeLessThan(100_000);
    await admin.hSet(store.key(id), { v: '1', e: String(Date.now() + 60_000), t: '20' });
    await admin.hSet(store.key(id), 'g', bomb);
    const read = await store.getItem(id).then(
      (r) => ({ kind: r.kind, bytes: r.kind === 'loaded' ? r.item.items.length : 0 }),
      (e: unknown) => e,
    );
    expect(read).toBeInstanceOf(SessionStateCorruptError);
  });

  it('items that compress well are stored and read back up to the bound, and refused past it with nothing written', async () => {
    const id = 'gzip-bound-aaaaaaaaaaaaaaaaaaaaaaa';
    const within = `{"x":"${'1'.repeat(3_000_000)}"}`; // ~3 MB, a few KB compressed: within 32 x 100 KB
    await store.setAndReleaseItemExclusive(id, { items: within, timeout: 20 }, null, true);
    expect(flat(await store.getItem(id)).item?.items).toBe(within);
    const { lockId } = flat(await store.getItemExclusive(id));
    const past = `{"x":"${'1'.repeat(3_300_000)}"}`; // past 3.2 MB uncompressed
    await expect(store.setAndReleaseItemExclusive(id, { items: past, timeout: 20 }, lockId, false)).rejects.toBeInstanceOf(SessionStateTooLargeError);
    expect(await store.releaseItemExclusive(id, lockId!)).toBe(true);
    expect(flat(await store.getItem(id)).item?.items).toBe(within);
  });
});
