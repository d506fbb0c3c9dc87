/**
 * A malformed Redis URL (a typo in the port) fails the store's startup with a clear error that names
 * neither the URL nor its password (docs/REDIS.md: "never the URL"): node-redis's own error carries the
 * whole URL (`input`), and Nest prints a failed startup's error with its properties and cause (review R40).
 */
import { RedisSessionStateStore } from '../../src/redis/index.js';

function everything(error: unknown, seen = new Set<unknown>()): string {
  if (error === null || typeof error !== 'object' || seen.has(error)) return String(error);
  seen.add(error);
  const e = error as Record<string, unknown>;
  const own = Object.getOwnPropertyNames(e).map(
    (key) => `${key}=${typeof e[key] === 'object' ? everything(e[key], seen) : (JSON.stringify(e[key]) ?? typeof e[key])}`,
  );
  return own.join(' ');
}

describe('RedisSessionStateStore: a malformed url', () => {
  it('init() with redis://app:<password>@127.0.0.1:99999 fails with a clear error naming neither the URL nor its password', async () => {
    const store = new RedisSessionStateStore({ url: 'redis://app:hunter2hunter2@127.0.0.1:99999', connectTimeoutMs: 1000 });
    let caught: unknown;
    try {
      await store.init();
    } catch (error) {
      caught = error;
    } finally {
      await store.close().catch(() => {});
    }
    expect(caught).toBeInstanceOf(Error);
    // what Nest would print at a failed startup: message, stack, own properties, cause
    expect(everything(caught)).not.toContain('hunter2hunter2');
    expect((caught as Error).message).toMatch(/could not make its client: TypeError ERR_INVALID_URL: .*Check url and clientOptions/);
  });
});

async function startupError(options: ConstructorParameters<typeof RedisSessionStateStore>[0]): Promise<Error> {
  const store = new RedisSessionStateStore({ ...options, connectTimeoutMs: 500 });
  try {
    await store.init();
  } catch (error) {
    return error as Error;
  } finally {
    await store.close().catch(() => {});
  }
  throw new Error('init() succeeded');
}

describe('RedisSessionStateStore: a url whose tls disagrees with clientOptions.socket.tls (node-redis quotes the url whole; review R41)', () => {
  it('a password with an unencoded "@" (rediss://app:s3cr@tP4ss@host): no part of it in the error', async () => {
    const error = await startupError({ url: 'rediss://app:s3cr@tP4ss@127.0.0.1:6390', clientOptions: { socket: { tls: false } } });
    expect(error.message).toContain('Check url and clientOptions');
    expect(error.message).not.toContain('tP4ss');
  });

  it('a password with a blank (redis://app:open sesame@host): not in the error', async () => {
    const error = await startupError({ url: 'redis://app:open sesame@127.0.0.1:6390', clientOptions: { socket: { tls: true } } });
    expect(error.message).toContain('Check url and clientOptions');
    expect(error.message).not.toContain('sesame');
  });
});
