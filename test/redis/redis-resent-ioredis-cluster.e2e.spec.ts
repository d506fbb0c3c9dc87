/**
 * An ioredis Cluster does not resend through `autoResendUnfulfilledCommands` (its node connections
 * have no retryStrategy), but it rejects a lost connection's commands with "Connection is closed."
 * and, with `retryDelayOnFailover` (100 ms by default), sends them again after refreshing the slots:
 * a script whose answer was lost runs twice there too (review R15). Each node behind a DroppingProxy
 * (natMap), the answer of one SAVE / LOCK lost: the scripts recognise their first run.
 */
import { Cluster } from 'ioredis';
import { fromIoredis, RedisSessionStateStore } from '../../src/redis/index.js';
import { LOCK, SAVE } from '../../src/redis/redis-scripts.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { DroppingProxy } from '../support/dropping-proxy.js';
import { startRedisCluster, type RedisCluster } from '../support/redis-server.js';

let cluster: RedisCluster;
const proxies: DroppingProxy[] = [];
let client: Cluster;
let store: RedisSessionStateStore;
beforeAll(async () => {
  cluster = await startRedisCluster();
  const natMap: Record<string, { host: string; port: number }> = {};
  for (const node of cluster.nodes) {
    const proxy = await DroppingProxy.start(node.port);
    proxies.push(proxy);
    natMap[`127.0.0.1:${node.port}`] = { host: '127.0.0.1', port: proxy.port };
  }
  client = new Cluster(
    proxies.map((p) => ({ host: '127.0.0.1', port: p.port })),
    { lazyConnect: true, shardedSubscribers: true, natMap },
  );
  await client.connect();
  store = new RedisSessionStateStore({ client: fromIoredis(client) });
  await store.init();
});
afterAll(async () => {
  await store?.close();
  client?.disconnect();
  for (const p of proxies) await p.stop();
  await cluster?.stop();
});

const arm = (sha1: string) => {
  for (const p of proxies) {
    p.drops = 0;
    p.armed = true;
    p.armedFor = sha1;
  }
};
const disarm = () => {
  let drops = 0;
  for (const p of proxies) {
    drops += p.drops;
    p.armed = false;
    p.armedFor = null;
    p.drops = 0;
  }
  return drops;
};

describe('a command whose answer was lost on an ioredis Cluster', () => {
  it('a save that ran: saved, not a 409; a lock that ran: the request holds it', async () => {
    // Every script loaded on every node first.
    for (let i = 0; i < 30; i++) {
      const id = generateSessionId();
      await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, null, true);
      const t = await store.getItemExclusive(id);
      if (t.kind === 'acquired') await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, t.lockId, false);
    }
    const id = generateSessionId();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, null, true);
    const taken = await store.getItemExclusive(id);
    if (taken.kind !== 'acquired') throw new Error(taken.kind);
    arm(SAVE.sha1);
    const saved = await store.setAndReleaseItemExclusive(id, { items: '{"n":2}', timeout: 20 }, taken.lockId, false).then(
      () => 'saved',
      (e: Error) => `${e.constructor.name}: ${e.message}`,
    );
    const saveDrops = disarm();

    arm(LOCK.sha1);
    const lock = await store.getItemExclusive(id).then(
      (a) => a.kind,
      (e: Error) => `${e.constructor.name}: ${e.message}`,
    );
    const lockDrops = disarm();
    const read = await store.getItem(id);
    // Each proxy armed: a retry that lands on another node (MOVED back) may lose its answer there too.
    expect({ saveDrops: saveDrops >= 1, saved, lockDrops: lockDrops >= 1, lock, read: read.kind === 'locked' ? 'locked' : read.kind }).toEqual({
      saveDrops: true,
      saved: 'saved',
      lockDrops: true,
      lock: 'acquired',
      read: 'locked',
    });
  });
});
