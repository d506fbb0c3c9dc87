// What the owner index costs Redis (docs/REDIS.md "What it costs", the owner index): its memory per
// owner (`MEMORY USAGE` of the index, plus the owner's share of the reaper set `{prefix}owners`), and
// the sweep that deletes the indexes no session needs any more: its time and Redis commands for N
// stale owners, and for a sweep with nothing due. Through the store's public API on a real server.
//   npm run build && node bench/redis-owner-index-cost.mjs
//   BENCH_BEFORE_DIST=/path/to/an/earlier/dist   the memory of that build's index too (its own prefix)
//   BENCH_STALE=1000,10000                        the numbers of stale owners swept
import { spawn } from 'node:child_process';
import { createClient } from 'redis';
import { freePort, portOpen, track, waitFor } from './lib/processes.mjs';

const STALE = (process.env.BENCH_STALE ?? '1000,10000').split(',').map(Number);
const MINUTE = 60_000;

const port = await freePort();
track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
await waitFor(() => portOpen(port), 'redis-server');
const url = `redis://127.0.0.1:${port}`;
const admin = createClient({ url, name: 'bench-admin' });
await admin.connect();

async function storeOf(dist, options) {
  const { RedisSessionStateStore } = await import(new URL(`${dist.replace(/\/$/, '')}/redis/index.js`, `file://${process.cwd()}/`).href);
  const store = new RedisSessionStateStore({ url, releaseNotifications: false, ...options });
  await store.init();
  return store;
}

const id = (owner, i) => `${owner}-${String(i).padStart(3, '0')}-${'x'.repeat(32 - owner.length - 5)}`;

// Memory of one owner's index with 1, 3 and 10 sessions (owner ids like a user id: 'user-123456').
const sides = { now: 'dist', ...(process.env.BENCH_BEFORE_DIST && { before: process.env.BENCH_BEFORE_DIST }) };
console.log('Owner index memory (MEMORY USAGE, bytes)');
for (const [side, dist] of Object.entries(sides)) {
  const store = await storeOf(dist, { application: side });
  const row = [];
  for (const sessions of [1, 3, 10]) {
    const owner = `user-${100000 + sessions}`;
    for (let i = 0; i < sessions; i++) await store.setAndReleaseItemExclusive(id(owner, i), { items: '{}', timeout: 20, owner }, null, true);
    const index = Number(await admin.sendCommand(['MEMORY', 'USAGE', `sess:${side}:owner:{${owner}}`, 'SAMPLES', '0']));
    row.push(`${sessions} session(s): ${index}`);
  }
  const reaper = `sess:${side}:owners`;
  if (await admin.exists(reaper)) {
    // The reaper's cost per owner: measured on 1,000 owners (its encoding changes past 128 entries).
    const before = Number(await admin.sendCommand(['MEMORY', 'USAGE', reaper, 'SAMPLES', '0']));
    for (let i = 0; i < 1000; i++) {
      const owner = `user-${200000 + i}`;
      await store.setAndReleaseItemExclusive(id(owner, 0), { items: '{}', timeout: 20, owner }, null, true);
    }
    const after = Number(await admin.sendCommand(['MEMORY', 'USAGE', reaper, 'SAMPLES', '0']));
    row.push(`reaper set per owner: ${((after - before) / 1000).toFixed(1)}`);
  }
  console.log(`  ${side}: ${row.join('; ')}`);
  await store.close();
}

// Redis's CPU per call of the scripts a login with an owner sends for the index (`INFO commandstats`,
// EVALSHA usec_per_call, 5,000 calls on as many owners): INDEX_OWNER before and now, and now REAP_REGISTER.
console.log('Owner index scripts (Redis µs per call)');
for (const [side, dist] of Object.entries(sides)) {
  const scripts = await import(new URL(`${dist.replace(/\/$/, '')}/redis/redis-scripts.js`, `file://${process.cwd()}/`).href);
  const perCall = async (script, keysOf, argsOf) => {
    await admin.sendCommand(['SCRIPT', 'LOAD', script.source]);
    await admin.configResetStat();
    for (let i = 0; i < 5000; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) => {
          const keys = keysOf(i + j);
          return admin.sendCommand(['EVALSHA', script.sha1, String(keys.length), ...keys, ...argsOf(i + j)]);
        }),
      );
    }
    return Number(/cmdstat_evalsha:calls=\d+,usec=\d+,usec_per_call=([\d.]+)/.exec(await admin.info('commandstats'))[1]);
  };
  const now = Date.now();
  const owner = (i) => [`sess:cost-${side}:owner:{user-${i}}`, `sess:cost-${side}:owner:{user-${i}}:cap`];
  const row = [];
  row.push(
    `index-owner ${await perCall(scripts.INDEX_OWNER, owner, (i) =>
      side === 'now' ? [id('user', i), String(now + 41 * MINUTE), String(now)] : [id('user', i), String(41 * MINUTE)],
    )}`,
  );
  if (scripts.REAP_REGISTER) {
    row.push(
      `reap-register ${await perCall(
        scripts.REAP_REGISTER,
        () => [`sess:cost-${side}:owners`],
        (i) => [`user-${i}`, String(now + 41 * MINUTE)],
      )}`,
    );
  }
  console.log(`  ${side}: ${row.join('; ')}`);
}

// The sweep: N owners each with one session of 1 minute, all past their horizon; swept by one store.
let offset = 0;
const clock = () => Date.now() + offset;
const store = await storeOf('dist', { application: 'sweep', clock, ownerSweep: false });
const stats = async () => {
  const text = await admin.info('commandstats');
  const calls = {};
  let usec = 0;
  for (const [, name, c, u] of text.matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)) {
    calls[name] = Number(c);
    usec += Number(u);
  }
  return { calls, usec };
};
console.log('Owner sweep');
{
  await store.sweepOwners(); // the script loaded (EVAL once), as on a server the store has swept before
  await admin.configResetStat();
  const started = process.hrtime.bigint();
  await store.sweepOwners();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const { calls, usec } = await stats();
  console.log(`  nothing due: ${ms.toFixed(2)} ms, Redis ${usec} µs, commands ${JSON.stringify(calls)}`);
}
for (const n of STALE) {
  offset = 0;
  await admin.flushAll();
  for (let i = 0; i < n; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, n - i) }, (_, j) => {
        const owner = `stale-${i + j}`;
        return store.setAndReleaseItemExclusive(id(owner, 0), { items: '{}', timeout: 1, owner }, null, true);
      }),
    );
  }
  offset = 3 * MINUTE + 2_000;
  await admin.configResetStat();
  const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))[1]);
  const started = process.hrtime.bigint();
  let sweeps = 0;
  let removed = 0;
  for (;;) {
    const result = await store.sweepOwners();
    sweeps++;
    removed += result.removed;
    if (result.visited === 0) break;
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const { calls, usec } = await stats();
  const freed = used - Number(/used_memory:(\d+)/.exec(await admin.info('memory'))[1]);
  const left = (await admin.keys('sess:sweep:owner*')).length;
  console.log(
    `  ${n} stale owners: removed ${removed} in ${sweeps} sweeps (the last found nothing), ${ms.toFixed(0)} ms, ` +
      `${((ms * 1000) / n).toFixed(1)} µs per owner; Redis ${usec} µs in all (${(usec / n).toFixed(1)} µs per owner); ` +
      `commands ${JSON.stringify(calls)}; memory freed ${freed} bytes; owner keys left ${left}`,
  );
}
await store.close();
admin.destroy();
process.exit(0);
