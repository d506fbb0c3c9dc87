/**
 * The store on an ioredis Cluster (`fromIoredis(new Cluster(nodes, { shardedSubscribers: true }))`),
 * on a real three-master Redis Cluster: the contract, a session's writes serialised across two
 * instances with waiters woken by the release (SPUBLISH from the session's shard), and a cluster
 * client without sharded subscribers refused at once, by name.
 */
import { Cluster } from 'ioredis';
import { fromIoredis, RedisSessionStateStore } from '../../src/redis/index.js';
import { describeSessionStateStoreConformance } from '../../src/testing/index.js';
import { startSessionApp, type SessionApp } from '../e2e/session-app.js';
import { expectFiftyAlternatingWrites } from './alternating-writes.js';
import { startRedisCluster, type RedisCluster } from '../support/redis-server.js';
import { ADAPTERS } from '../support/test-app.js';

let cluster: RedisCluster;
const clients: Cluster[] = [];
/** An ioredis cluster client on the test cluster, connected, closed after the file. */
const ioredisCluster = async (options: { shardedSubscribers?: boolean } = { shardedSubscribers: true }) => {
  const client = new Cluster(
    cluster.rootNodes.map(({ url }) => {
      const { hostname, port } = new URL(url);
      return { host: hostname, port: Number(port) };
    }),
    { lazyConnect: true, ...options },
  );
  clients.push(client);
  await client.connect();
  return client;
};
let shared: Cluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
  shared = await ioredisCluster();
});
afterAll(async () => {
  clients.forEach((c) => c.disconnect());
  await cluster?.stop();
});

describeSessionStateStoreConformance('RedisSessionStateStore on an ioredis Cluster (fromIoredis, shardedSubscribers)', {
  create: (clock) => new RedisSessionStateStore({ client: fromIoredis(shared), clock }),
  destroy: (store) => (store as RedisSessionStateStore).close(),
  movedMarkers: true,
});

it('an ioredis Cluster without shardedSubscribers is refused by fromIoredis, saying what to set', async () => {
  const client = await ioredisCluster({});
  expect(() => fromIoredis(client)).toThrow(/shardedSubscribers: true/);
});

describe.each(ADAPTERS)('two app instances on an ioredis Cluster over %s', (adapter) => {
  const apps: SessionApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
  });

  it("50 concurrent increments sent alternately end at exactly 50: a session's writes are serialised across instances, waiters woken by SPUBLISH", async () => {
    const make = async () => {
      // Each instance its own cluster client, as another process would have; a poll too slow to serve anyone in time.
      const store = new RedisSessionStateStore({ client: fromIoredis(await ioredisCluster()), releaseNotifications: { fallbackPollMs: 60_000 } });
      const app = await startSessionApp(adapter, { store });
      apps.push(app);
      return app;
    };
    await expectFiftyAlternatingWrites(await make(), await make());
  });
});
