import { RedisSessionStateStore } from '../../src/redis/index.js';
import { startRedisServer } from '../support/redis-server.js';

/*
 * docs/OPERATIONS.md's "Health" section names DynamoDB (down "shows the table and the
 * error class only") and the memory store, not Redis. The Redis store's down answer carries the
 * client error's message, which the health indicator keeps out for a throwing store ("its message
 * may carry internals, its class does not"). What a down Redis answers, shown here.
 */
describe('OPERATIONS.md: the Redis store in the health check', () => {
  it('a Redis server gone: down, with the error message (not its class) in the details', async () => {
    const down = await startRedisServer();
    const store = new RedisSessionStateStore({ url: down.url, requestTimeoutMs: 200, clientOptions: { socket: { reconnectStrategy: () => 50 } } });
    await store.init();
    await down.kill();
    try {
      const health = await store.checkHealth();
      expect(health.up).toBe(false);
      // A message (the store's own here, no host or port), not a class name; no table-like "where".
      expect(health.details).toEqual({
        error: expect.stringMatching(/^Redis (is not connected \(reconnecting\)|PING did not complete within 200 ms)\.$/),
      });
    } finally {
      await store.close();
    }
  });
});
