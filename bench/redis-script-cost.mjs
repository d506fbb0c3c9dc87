// Redis's own cost per call of each of the store's scripts, measured by the server: `INFO
// commandstats` (usec_per_call of EVALSHA, or HMGET for a read), reset before each phase. A phase is
// one kind of store call on 2,000 sessions, 32 in flight, through the store's public API (so the
// scripts get the arguments they get in a request). With VALGRIND=1 the server runs under callgrind
// and each phase is also counted in instructions per call (the server's whole work for the call:
// reading the command, the script, the reply), which a shared, noisy machine cannot disturb.
//   npm run build && node bench/redis-script-cost.mjs
//   BENCH_BEFORE_DIST=/path/to/an/earlier/dist   measures that build too, in the same rounds
//   BENCH_ROUNDS=5 (3 under VALGRIND)           rounds; the median per phase is shown
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { freePort, portOpen, track, waitFor } from './lib/processes.mjs';

const VALGRIND = process.env.VALGRIND === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (VALGRIND ? 3 : 5));
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? (VALGRIND ? 500 : 2000));
const IN_FLIGHT = 32;

const port = await freePort();
const outDir = mkdtempSync(join(tmpdir(), 'redis-script-cost-'));
const server = ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
const child = track(
  VALGRIND
    ? spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${outDir}/cg.out`, ...server], { stdio: 'ignore' })
    : spawn(server[0], server.slice(1), { stdio: 'ignore' }),
);
await waitFor(() => portOpen(port), 'redis-server');
const url = `redis://127.0.0.1:${port}`;
const admin = createClient({ url, name: 'bench-admin' });
await admin.connect();

const sides = { now: 'dist', ...(process.env.BENCH_BEFORE_DIST && { before: process.env.BENCH_BEFORE_DIST }) };
const stores = {};
for (const [side, dist] of Object.entries(sides)) {
  const { RedisSessionStateStore } = await import(new URL(`${dist.replace(/\/$/, '')}/redis/index.js`, `file://${process.cwd()}/`).href);
  // Two stores per side: a request of another instance finds the sessions locked.
  stores[side] = [new RedisSessionStateStore({ url }), new RedisSessionStateStore({ url })];
  for (const store of stores[side]) await store.init();
}

const items = JSON.stringify({ count: 1, notes: 'x'.repeat(200) });
const created = Date.now();

/** `call(i)` for every session, IN_FLIGHT at a time. */
async function each(call) {
  let next = 0;
  const results = Array.from({ length: SESSIONS });
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < SESSIONS) {
        const i = next++;
        results[i] = await call(i);
      }
    }),
  );
  return results;
}

/** The server's cost per call of `command` over `run()`: µs (commandstats) and, under valgrind, instructions. */
async function measure(command, run) {
  await admin.sendCommand(['CONFIG', 'RESETSTAT']);
  if (VALGRIND) execFileSync('callgrind_control', ['--zero', String(child.pid)], { stdio: 'ignore' });
  await run();
  let instructions = null;
  if (VALGRIND) {
    execFileSync('callgrind_control', ['--dump', String(child.pid)], { stdio: 'ignore' });
    const dumps = readdirSync(outDir).filter((name) => name !== 'cg.out' && name.startsWith('cg.out'));
    instructions = 0;
    for (const name of dumps) {
      instructions += Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(join(outDir, name), 'utf8'))[1]);
      rmSync(join(outDir, name));
    }
  }
  const stats = await admin.sendCommand(['INFO', 'commandstats']);
  const [, calls, usec] = new RegExp(`^cmdstat_${command}:calls=(\\d+),usec=(\\d+)`, 'm').exec(stats);
  // The admin's own CONFIG/INFO are outside the phase; under valgrind the instructions include them (a few, once).
  return { usec: Number(usec) / Number(calls), instructions: instructions === null ? null : instructions / Number(calls), calls: Number(calls) };
}

const phases = [
  {
    name: 'lock (free)',
    command: 'evalsha',
    run: async (s, ids, locks) => each(async (i) => (locks[i] = (await s[0].getItemExclusive(ids[i])).lockId)),
  },
  {
    name: 'save (changed) + release',
    command: 'evalsha',
    run: async (s, ids, locks) => each((i) => s[0].setAndReleaseItemExclusive(ids[i], { items, timeout: 20, created }, locks[i], false)),
  },
  {
    name: 'lock again',
    command: 'evalsha',
    run: async (s, ids, locks) => each(async (i) => (locks[i] = (await s[0].getItemExclusive(ids[i])).lockId)),
  },
  { name: 'lock (held by another)', command: 'evalsha', run: async (s, ids) => each((i) => s[1].getItemExclusive(ids[i])) },
  { name: 'probe (held)', command: 'evalsha', run: async (s, ids) => each((i) => s[1].probeLock(ids[i])) },
  {
    name: 'release (unchanged, a waiter)',
    command: 'evalsha',
    run: async (s, ids, locks) => each((i) => s[0].releaseItemExclusive(ids[i], locks[i])),
  },
  { name: 'read (getItem, HMGET)', command: 'hmget', run: async (s, ids) => each((i) => s[0].getItem(ids[i])) },
];

const results = {};
for (let round = 0; round < ROUNDS; round++) {
  const order = Object.keys(stores);
  if (round % 2) order.reverse();
  for (const side of order) {
    const s = stores[side];
    const ids = Array.from({ length: SESSIONS }, (_, i) => `script-cost-${side}-${round}-${i}-${'x'.repeat(12)}`);
    await each((i) => s[0].setAndReleaseItemExclusive(ids[i], { items, timeout: 20, created }, null, true));
    const locks = Array.from({ length: SESSIONS });
    for (const { name, command, run } of phases) {
      (results[`${name}|${side}`] ??= []).push(await measure(command, () => run(s, ids, locks)));
    }
  }
}

const median = (values) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
const peer = {};
// The peer's two commands (connect-redis: GET then SET of the session's JSON), for scale.
await admin.set('peer-session', JSON.stringify({ cookie: { originalMaxAge: 1_200_000 }, ...JSON.parse(items) }));
for (const [name, args] of [
  ['GET', ['GET', 'peer-session']],
  ['SET', ['SET', 'peer-session', JSON.stringify({ cookie: { originalMaxAge: 1_200_000 }, ...JSON.parse(items) }), 'EX', '1200']],
]) {
  peer[name] = await measure(name.toLowerCase(), () => each(() => admin.sendCommand(args)));
}

const sideNames = Object.keys(stores);
console.log(
  `Redis ${VALGRIND ? 'under callgrind ' : ''}server cost per call, median of ${ROUNDS} rounds × ${SESSIONS} calls (µs${VALGRIND ? '; instructions' : ''})`,
);
console.log(['phase'.padEnd(32), ...sideNames.map((side) => side.padStart(VALGRIND ? 22 : 10))].join(''));
for (const { name } of phases) {
  const cells = sideNames.map((side) => {
    const rows = results[`${name}|${side}`];
    const usec = median(rows.map((r) => r.usec)).toFixed(2);
    return (VALGRIND ? `${usec}; ${Math.round(median(rows.map((r) => r.instructions)))}` : usec).padStart(VALGRIND ? 22 : 10);
  });
  console.log([name.padEnd(32), ...cells].join(''));
}
for (const [name, r] of Object.entries(peer)) {
  console.log(
    `peer ${name.padEnd(27)}${(VALGRIND ? `${r.usec.toFixed(2)}; ${Math.round(r.instructions)}` : r.usec.toFixed(2)).padStart(VALGRIND ? 22 : 10)}`,
  );
}
if (process.env.BENCH_JSON) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(process.env.BENCH_JSON, JSON.stringify({ valgrind: VALGRIND, rounds: ROUNDS, sessions: SESSIONS, results, peer }, null, 2));
}

for (const pair of Object.values(stores)) for (const store of pair) await store.close();
admin.destroy();
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
rmSync(outDir, { recursive: true, force: true });
