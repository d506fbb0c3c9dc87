// CPU per call of the Redis store itself, without HTTP or Nest: this process's CPU (process.cpuUsage)
// and wall time over a loop of store calls, 32 sessions in parallel on one connection, interleaved
// rounds, medians; then Redis's own CPU per command (INFO commandstats).
//   npm run build && node bench/redis-store-calls.mjs
//   BENCH_BEFORE_DIST=/path/to/an/earlier/build/dist measures that build side by side (a copy of
//   `dist/` with a package.json beside it and node_modules reachable from it).
import { startRedis } from './lib/redis.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const CALLS = 150;
const redis = await startRedis();
const sides = { now: 'dist', ...(process.env.BENCH_BEFORE_DIST && { before: process.env.BENCH_BEFORE_DIST }) };
const stores = {};
for (const [side, dist] of Object.entries(sides)) {
  const { RedisSessionStateStore } = await import(new URL(`${dist.replace(/\/$/, '')}/redis/index.js`, `file://${process.cwd()}/`).href);
  stores[side] = new RedisSessionStateStore({ url: redis.url });
  await stores[side].init();
}
const items = JSON.stringify({ count: 1, notes: 'x'.repeat(200) });
const ids = Array.from({ length: 32 }, (_, i) => `store-calls-${i}`);
for (const id of ids) await stores.now.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);
await redis.admin.configResetStat();

async function run(store, kind) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    ids.map(async (id) => {
      for (let i = 0; i < CALLS; i++) {
        if (kind === 'read') await store.getItem(id);
        else {
          const { lockId } = await store.getItemExclusive(id);
          await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, lockId, false);
        }
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  const calls = CALLS * ids.length;
  return { cpu: (used.user + used.system) / calls, wall: ((performance.now() - started) * 1000) / calls };
}

const results = {};
for (let round = 0; round < ROUNDS; round++) {
  const order = Object.keys(stores);
  if (round % 2) order.reverse();
  for (const side of order) {
    for (const kind of ['read', 'write']) (results[`${side} ${kind}`] ??= []).push(await run(stores[side], kind));
  }
}
const median = (values) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
for (const [key, rows] of Object.entries(results)) {
  const [side, kind] = key.split(' ');
  const what = kind === 'read' ? 'getItem' : 'getItemExclusive + setAndReleaseItemExclusive';
  console.log(
    `${side.padEnd(6)} ${what}: ${median(rows.map((r) => r.cpu)).toFixed(1)} µs CPU per call, ${median(rows.map((r) => r.wall)).toFixed(1)} µs wall (32 in flight)`,
  );
}
const stats = await redis.admin.info('commandstats');
for (const match of stats.matchAll(/^cmdstat_(evalsha|hmget):calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/gm)) {
  console.log(`Redis: ${match[1]} ${match[3]} µs per call (${match[2]} calls, scripts' inner HMGETs included)`);
}
for (const store of Object.values(stores)) await store.close();
await redis.stop();
