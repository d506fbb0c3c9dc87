// What a Redis hand-off across instances is made of on this machine (docs/BENCHMARKS.md, "Stop 35"):
// two processes on one redis-server, times from process.hrtime (one monotonic clock for both), medians.
//   npm run build && node bench/wake-probe.mjs        BENCH_GAP_MS=20 (idle before each), BENCH_N=40
// - raw: A, after the gap, SPUBLISHes; B's listener runs, then sends a PING (node-redis, no store);
// - store: A releases a session (setAndReleaseItemExclusive) that B waits for through the store's
//   public calls (getItemExclusive found it locked, watchReleases), then B takes its lock.
// The raw chain is the floor of any design that wakes a waiter and then takes the lock in one round trip.
import { fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { RedisSessionStateStore } from '../dist/redis/index.js';
import { startRedis } from './lib/redis.mjs';

const GAP = Number(process.env.BENCH_GAP_MS ?? 20);
const N = Number(process.env.BENCH_N ?? 40);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

if (process.argv[2] === 'waiter') await waiter(process.env.REDIS_URL);
else await main();

/** B: PINGs on each publish of the raw channel; waits for each session id A sends, then locks it. */
async function waiter(url) {
  const client = createClient({ url });
  await client.connect();
  const subscriber = client.duplicate();
  await subscriber.connect();
  const store = new RedisSessionStateStore({ url });
  await store.init();
  await subscriber.sSubscribe('probe{raw}', async () => {
    const woken = now();
    await client.ping();
    process.send({ woken, done: now() });
  });
  // A failed step ends B, and A's wait for its next message with it (never a hang).
  process.on('unhandledRejection', (error) => {
    console.error(error);
    process.exit(1);
  });
  process.on('message', async ({ id }) => {
    if ((await store.getItemExclusive(id)).kind !== 'locked') throw new Error('the session should be locked');
    const watch = await store.watchReleases(id);
    // Tried again once watching (as the lock coordinator does): this attempt marks the lock as waited for.
    if ((await store.getItemExclusive(id)).kind !== 'locked') throw new Error('the session should still be locked');
    process.send({ ready: true });
    const answer = await watch.next(new AbortController().signal);
    const woken = now();
    const taken = await store.getItemExclusive(id);
    const done = now();
    watch.close();
    if (answer !== 'released' || taken.kind !== 'acquired') throw new Error(`woken by ${answer}, then ${taken.kind}`);
    await store.releaseItemExclusive(id, taken.lockId);
    process.send({ woken, done });
  });
  process.send({ ready: true });
}

async function main() {
  const redis = await startRedis();
  const child = fork(new URL(import.meta.url), ['waiter'], { env: { ...process.env, REDIS_URL: redis.url } });
  const message = () =>
    new Promise((resolve, reject) => {
      const exited = (code) => reject(new Error(`the waiter process exited (${code})`));
      child.once('exit', exited);
      child.once('message', (value) => (child.off('exit', exited), resolve(value)));
    });
  await message();
  const store = new RedisSessionStateStore({ url: redis.url });
  await store.init();
  const raw = [];
  const viaStore = [];
  for (let i = 0; i < N; i++) {
    const answered = message();
    await sleep(GAP);
    const start = now();
    await redis.admin.sPublish('probe{raw}', 'r');
    const { woken, done } = await answered;
    raw.push({ woken: woken - start, done: done - start });
  }
  for (let i = 0; i < N; i++) {
    const id = `wakeprobe${i}x${process.pid}${'0'.repeat(24)}`;
    await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, null, true);
    const held = await store.getItemExclusive(id);
    if (held.kind !== 'acquired') throw new Error(`could not lock ${id}`);
    const ready = message();
    child.send({ id });
    await ready;
    const answered = message();
    await sleep(GAP);
    const start = now();
    await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 20 }, held.lockId, false);
    const { woken, done } = await answered;
    viaStore.push({ woken: woken - start, done: done - start });
  }
  const ms = (rows, key) => median(rows.map((r) => r[key])).toFixed(2);
  console.log(`after ${GAP} ms idle, medians of ${N} (ms from the first process's call):`);
  console.log(`raw: SPUBLISH -> listener runs ${ms(raw, 'woken')}, its PING answered ${ms(raw, 'done')}`);
  console.log(`store: release sent -> the waiter's watch woken ${ms(viaStore, 'woken')}, its lock taken ${ms(viaStore, 'done')}`);
  child.kill();
  await store.close();
  await redis.stop();
}
