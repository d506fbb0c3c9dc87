import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { createClient, type RedisClientType } from 'redis';
import { SessionStateStoreMisconfiguredError, SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { fromIoredis, RedisSessionStateStore } from '../../src/redis/index.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

/**
 * Startup never hangs: node-redis retries a refused or unreachable connection forever, so the
 * store's `init()` bounds it (a refusal at once, an unreachable server after connectTimeoutMs) and
 * destroys the client it was connecting.
 */
let server: RedisServer;
let admin: RedisClientType;
beforeAll(async () => {
  server = await startRedisServer(['--requirepass', 'admin-secret']);
  admin = createClient({ url: `redis://:admin-secret@127.0.0.1:${server.port}` });
  await admin.connect();
  // A user that may not SELECT another database. What a store needs at startup: its connection (HELLO), scripts, and the commands they run (checked by init()).
  await admin.sendCommand(
    ['ACL', 'SETUSER', 'app', 'reset', 'on', '>app-secret', '~sess:*', '&sess:*', '+hello', '+ping', '+evalsha', '+eval'].concat(
      '+hmget +hset +hdel +del +pexpire +pttl +type +zscore +zadd +persist +zrange +zrangebyscore +zremrangebyscore +zrem'.split(' '),
    ),
  );
});
afterAll(async () => {
  admin?.destroy();
  await server?.stop();
});

/** `init()`'s error, and how long it took. */
async function failure(store: RedisSessionStateStore): Promise<{ error: Error; ms: number }> {
  const started = Date.now();
  const error = await store.init().then(
    () => new Error('init() resolved'),
    (e: unknown) => e as Error,
  );
  return { error, ms: Date.now() - started };
}

describe('Redis store startup', () => {
  it.each([
    ['a wrong password (WRONGPASS)', () => `redis://app:wrong-secret@127.0.0.1:${server.port}`, 'WRONGPASS'],
    ['no password on a server that requires one (NOAUTH)', () => `redis://127.0.0.1:${server.port}`, 'NOAUTH'],
    ['a database the ACL refuses (NOPERM on SELECT)', () => `redis://app:app-secret@127.0.0.1:${server.port}/3`, 'NOPERM'],
    ['a database that does not exist (SELECT refused)', () => `redis://:admin-secret@127.0.0.1:${server.port}/999`, 'ERR'],
  ])('fails at once on %s, for a client the store makes, and names no secret', async (_, url, code) => {
    const store = new RedisSessionStateStore({ url: url(), connectTimeoutMs: 60_000 });
    const { error, ms } = await failure(store);
    expect(error).toBeInstanceOf(SessionStateStoreMisconfiguredError);
    expect(error.message).toContain(`(${code}`);
    expect(error.message).not.toMatch(/secret/);
    expect(ms).toBeLessThan(5_000);
    await store.close();
  });

  it("fails at once on a refusal for the application's client it connects, and destroys it (nothing keeps retrying)", async () => {
    const client = createClient({ url: `redis://app:wrong-secret@127.0.0.1:${server.port}` });
    const errors: Error[] = [];
    client.on('error', (e: Error) => errors.push(e));
    const store = new RedisSessionStateStore({ client, connectTimeoutMs: 60_000 });
    const { error } = await failure(store);
    expect(error).toBeInstanceOf(SessionStateStoreMisconfiguredError);
    expect(error.message).toContain('(WRONGPASS');
    expect(client.isOpen).toBe(false);
    await store.close();
  });

  it('fails after connectTimeoutMs when Redis is unreachable, for a client the store makes and for an app client', async () => {
    const port = await closedPort();
    const own = new RedisSessionStateStore({ url: `redis://user:pw-secret@127.0.0.1:${port}`, connectTimeoutMs: 400 });
    const mine = await failure(own);
    expect(mine.error).toBeInstanceOf(SessionStateStoreUnavailableError);
    expect(mine.error).not.toBeInstanceOf(SessionStateStoreMisconfiguredError);
    expect(mine.error.message).toMatch(/not reachable within connectTimeoutMs \(400 ms\).*ECONNREFUSED/);
    expect(mine.error.message).not.toMatch(/secret/);
    expect(mine.ms).toBeGreaterThanOrEqual(390);
    expect(mine.ms).toBeLessThan(3_000);
    await own.close();

    const client = createClient({ url: `redis://127.0.0.1:${port}` });
    client.on('error', () => undefined);
    const theirs = new RedisSessionStateStore({ client, connectTimeoutMs: 400 });
    expect((await failure(theirs)).error).toBeInstanceOf(SessionStateStoreUnavailableError);
    expect(client.isOpen).toBe(false);
    await theirs.close();
  });

  it('an ioredis client (fromIoredis) the store connects: a refusal and an unreachable server fail startup too', async () => {
    const refusedClient = new Redis(`redis://app:wrong-secret@127.0.0.1:${server.port}`, { lazyConnect: true });
    refusedClient.on('error', () => undefined);
    const refusedStore = new RedisSessionStateStore({ client: fromIoredis(refusedClient), connectTimeoutMs: 60_000 });
    const refused = await failure(refusedStore);
    expect(refused.error).toBeInstanceOf(SessionStateStoreMisconfiguredError);
    expect(refused.error.message).toContain('(WRONGPASS');
    expect(refused.error.message).not.toMatch(/secret/);
    await refusedStore.close();

    const unreachableClient = new Redis(`redis://127.0.0.1:${await closedPort()}`, { lazyConnect: true });
    unreachableClient.on('error', () => undefined);
    const unreachableStore = new RedisSessionStateStore({ client: fromIoredis(unreachableClient), connectTimeoutMs: 400 });
    const unreachable = await failure(unreachableStore);
    expect(unreachable.error).toBeInstanceOf(SessionStateStoreUnavailableError);
    expect(unreachable.error).not.toBeInstanceOf(SessionStateStoreMisconfiguredError);
    expect(unreachable.error.message).toMatch(/ECONNREFUSED/);
    expect(unreachable.ms).toBeLessThan(3_000);
    await unreachableStore.close();
  });

  it('a failed init() can be retried and then connects (nothing of the failure is kept)', async () => {
    const store = new RedisSessionStateStore({ url: `redis://app:app-secret@127.0.0.1:${server.port}`, connectTimeoutMs: 60_000 });
    await store.init();
    expect(store.client.isReady).toBe(true);
    await store.close();
  });
});

/** A port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('No free port'))));
    });
  });
}
