import { createClient, createCluster, type RedisClusterType } from 'redis';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { describeSessionStateStoreConformance } from '../../src/testing/index.js';
import { startSessionApp, type SessionApp } from '../e2e/session-app.js';
import { expectFiftyAlternatingWrites } from './alternating-writes.js';
import { startRedisCluster, type RedisCluster } from '../support/redis-server.js';
import { ADAPTERS } from '../support/test-app.js';

let cluster: RedisCluster;
let client: RedisClusterType;
beforeAll(async () => {
  cluster = await startRedisCluster();
  client = createCluster({ rootNodes: cluster.rootNodes });
  await client.connect();
});
afterAll(async () => {
  client?.destroy();
  await cluster?.stop();
});

describeSessionStateStoreConformance('RedisSessionStateStore on a three-master Redis Cluster', {
  create: (clock) => new RedisSessionStateStore({ client, clock }),
  destroy: (store) => (store as RedisSessionStateStore).close(),
});

describe('a session on Redis Cluster', () => {
  it("keeps its hash and its release channel in one slot; sessions spread over the masters; the owner's index lives in the owner's slot", async () => {
    const store = new RedisSessionStateStore({ client, application: 'shop' });
    const ids = Array.from({ length: 12 }, (_, i) => `session-${i}-${Date.now()}`);
    const slotOf = async (name: string) => Number(await client.sendCommand(undefined, true, ['CLUSTER', 'KEYSLOT', name]));
    for (const id of ids) {
      expect(await slotOf(`${store.key(id)}:r`)).toBe(await slotOf(store.key(id)));
      await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner: 'ann' }, null, true);
    }
    // Each master holds some of them: the sessions really are spread, not all in one slot.
    const perNode = await Promise.all(
      cluster.nodes.map(async (node) => {
        const direct = createClient({ url: node.url });
        await direct.connect();
        try {
          return (await direct.keys('sess:shop:{session-*')).length;
        } finally {
          direct.destroy();
        }
      }),
    );
    expect(perNode.reduce((a, b) => a + b, 0)).toBe(ids.length);
    expect(perNode.filter((n) => n > 0).length).toBeGreaterThan(1);
    // Sign out everywhere reaches sessions of every slot.
    expect(await store.revokeOwner('ann')).toBe(ids.length);
    await store.close();
  });
});

describe.each(ADAPTERS)('two app instances on Redis Cluster over %s', (adapter) => {
  const apps: SessionApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
  });

  it("50 concurrent increments sent alternately end at exactly 50: a session's writes are serialised across instances, waiters woken by SPUBLISH", async () => {
    const make = async () => {
      // Each instance its own cluster client, as another process would have; a poll too slow to serve anyone in time.
      const store = new RedisSessionStateStore({
        client: createCluster({ rootNodes: cluster.rootNodes }),
        releaseNotifications: { fallbackPollMs: 60_000 },
      });
      const app = await startSessionApp(adapter, { store });
      apps.push(app);
      return { ...app, http: app.app.getHttpServer(), raw: store };
    };
    const a = await make();
    const b = await make();
    await expectFiftyAlternatingWrites(a, b);
    for (const x of [a, b]) (x.raw.client as RedisClusterType).destroy();
  });
});
