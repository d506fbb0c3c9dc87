/**
 * close() (at the shutdown of the last application using the store) while the subscriber connection's first connect is still
 * pending (Redis down when a waiter first watched a session) settles at once: it destroys the
 * subscriber without waiting on its connect, and closes the client the store made, so neither keeps
 * reconnecting and the process can exit.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { startRedisServer } from '../support/redis-server.js';

describe('RedisSessionStateStore: close() during an outage', () => {
  it('close() settles (and closes the store-made client) although the subscriber connection never connected', async () => {
    const server = await startRedisServer();
    const store = new RedisSessionStateStore({
      url: server.url,
      requestTimeoutMs: 200,
      clientOptions: { socket: { reconnectStrategy: () => 50 } },
    });
    await store.init();
    await server.kill();
    // A waiter's first watch, while Redis is down: the subscription is given up on after requestTimeoutMs,
    // and the watch answered checks at the fallback pace (it has no subscription).
    const watch = await store.watchReleases('close-outage-aaaaaaaaaaaaaaaaaaaaaaa');
    watch.close();
    const closing = store.close().then(() => 'closed' as const);
    try {
      const outcome = await Promise.race([closing, delay(2_000).then(() => 'still pending after 2 s' as const)]);
      expect(outcome).toBe('closed');
      expect(store.client.isOpen).toBe(false);
    } finally {
      // Let the pending connect through so the hung close() (and its clients) can finish.
      await server.restart();
      await Promise.race([closing, delay(5_000)]);
      await server.stop();
    }
  });
});
