import { createClient, type RedisClientType } from 'redis';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { describeSessionStateStoreConformance } from '../../src/testing/index.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let client: RedisClientType;
beforeAll(async () => {
  server = await startRedisServer();
  client = createClient({ url: server.url });
  await client.connect();
});
afterAll(async () => {
  client?.destroy();
  await server?.stop();
});

describeSessionStateStoreConformance('RedisSessionStateStore (a client of the app)', {
  create: (clock) => new RedisSessionStateStore({ client, clock }),
  destroy: (store) => (store as RedisSessionStateStore).close(),
  movedMarkers: true,
});

describeSessionStateStoreConformance('RedisSessionStateStore (its own client, compressed from 1 KB, an application prefix)', {
  create: async (clock) => {
    const store = new RedisSessionStateStore({ url: server.url, clock, application: 'conf', compression: { thresholdBytes: 1024 } });
    await store.init();
    return store;
  },
  destroy: (store) => (store as RedisSessionStateStore).close(),
  movedMarkers: true,
});
