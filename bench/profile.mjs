// CPU profile of one request kind on the sample app (in-memory store), under the bench's load:
//   node bench/profile.mjs [POST /counter] [seconds]      (after `npm run bench`'s builds)
// Starts the app with `node --cpu-prof`, drives it from this process (32 users, own cookies), stops
// it, and prints where the app's CPU time went: self time by package (our dist/ apart), as a share
// of the samples and in µs per request served (idle left out), and the top functions of our own
// code. The .cpuprofile stays in bench/results/ (open it in Chrome DevTools).
//   BENCH_OURS=path/to/main.js profiles another build (an earlier version); BENCH_PEER=1 the peer app;
//   BENCH_PEER=1 PEER_STORE=none the floor (the peer app without a session layer);
//   BENCH_SHAPE=interceptor the app with one no-op global interceptor (as in `npm run bench`);
//   SESSION_BINDING=guard our app's routes bound by `@UseGuards(SessionStateGuard)`.
//   On Redis: SESSION_STORE=redis (ours) or PEER_STORE=redis (the peer), with REDIS_URL.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { drive, makeSessions } from './lib/load.mjs';
import { startApp } from './lib/processes.mjs';

const [method = 'POST', path = '/counter', seconds = '8'] = process.argv.slice(2);
const dir = 'bench/results/profiles';
const script = process.env.BENCH_PEER ? 'bench/peer-app/dist/main.js' : (process.env.BENCH_OURS ?? 'bench/probe-app/dist/main.js');
const app = await startApp(
  script,
  {
    SESSION_STORE: process.env.SESSION_STORE ?? 'memory',
    PEER_STORE: process.env.PEER_STORE ?? 'memory',
    APP_SHAPE: process.env.BENCH_SHAPE ?? 'bare',
    SESSION_BINDING: process.env.SESSION_BINDING ?? 'interceptor',
  },
  ['--cpu-prof', `--cpu-prof-dir=${dir}`],
);
// The floor (the peer app with PEER_STORE=none) sets no cookie: it is sent cookies of the peer's shape.
const cookies =
  process.env.BENCH_PEER && process.env.PEER_STORE === 'none'
    ? Array.from({ length: 32 }, (_, i) => `connect.sid=s%3Afloor-${i}`)
    : await makeSessions(app.base, 32);
const warmUp = await drive({ base: app.base, method, path, cookies, seconds: 2 });
const result = await drive({ base: app.base, method, path, cookies, seconds: Number(seconds) });
// Every request the process served while profiled (the sessions' creation, the warm-up, the run).
const served = cookies.length + warmUp.total + result.total;
console.log(`${method} ${path}: ${result.rps.toFixed(0)} req/s under the profiler`);
await app.stop();

const file = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile') && f.includes(String(app.pid)))
  .map((f) => join(dir, f))[0];
const profile = JSON.parse(readFileSync(file, 'utf8'));
const self = new Map(profile.nodes.map((n) => [n.id, 0]));
for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], self.get(profile.samples[i]) + (profile.timeDeltas[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const where = (url, functionName = '') => {
  // Samples with no script: the garbage collector, idle, V8's own work ("(program)"), native code.
  if (!url) return ['(garbage collector)', '(idle)', '(program)'].includes(functionName) ? functionName : '(native)';
  if (url.includes('/node_modules/'))
    return url
      .split('/node_modules/')
      .pop()
      .split('/')
      .slice(0, url.includes('/node_modules/@') ? 2 : 1)
      .join('/');
  if (url.startsWith('node:')) return 'node core';
  if (url.includes('/sample-app/') || url.includes('/bench/')) return 'the app itself';
  if (url.includes('/dist/')) return 'nestjs-session-state (ours)';
  return url;
};
const byPlace = new Map();
const ours = new Map();
for (const node of profile.nodes) {
  const t = self.get(node.id);
  const { url, functionName, lineNumber } = node.callFrame;
  const place = where(url, functionName);
  byPlace.set(place, (byPlace.get(place) ?? 0) + t);
  if (place.startsWith('nestjs-session-state')) {
    const key = `${functionName || '(anonymous)'} ${url.split('/dist/').pop()}:${lineNumber + 1}`;
    ours.set(key, (ours.get(key) ?? 0) + t);
  }
}
// Node's own work (timers, events, AbortController, crypto…) is charged to whoever called it: the
// first caller up the stack that is not node core, so "ours" below includes what our code makes Node do.
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node);
const caused = new Map();
const causedOurs = new Map();
for (const node of profile.nodes) {
  const t = self.get(node.id);
  if (!t || where(node.callFrame.url) !== 'node core') continue;
  let up = parent.get(node.id);
  while (up && (!up.callFrame.url || where(up.callFrame.url) === 'node core') && up.callFrame.functionName !== '(root)') up = parent.get(up.id);
  const place = up ? where(up.callFrame.url) : '?';
  caused.set(place, (caused.get(place) ?? 0) + t);
  if (place.startsWith('nestjs-session-state')) {
    const key = `${node.callFrame.functionName || '(anonymous)'} (${node.callFrame.url.replace('node:', '')}) ← ${up.callFrame.functionName} ${up.callFrame.url.split('/dist/').pop()}`;
    causedOurs.set(key, (causedOurs.get(key) ?? 0) + t);
  }
}
const pct = (t) => `${((100 * t) / total).toFixed(1)} %`;
const busy = total - (byPlace.get('(idle)') ?? 0);
const perRequest = (t) => `${(t / served).toFixed(1)} µs`;
console.log(`profile: ${file}\n${served} requests served; busy (not idle) ${perRequest(busy)} per request`);
console.log('self time by place (share of all samples, µs per request):');
for (const [place, t] of [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, 16))
  console.log(`  ${pct(t).padStart(7)} ${perRequest(t).padStart(10)}  ${place}`);
console.log('our functions:');
for (const [fn, t] of [...ours].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(t).padStart(7)}  ${fn}`);
console.log('node core time by the caller that asked for it:');
for (const [place, t] of [...caused].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${pct(t).padStart(7)}  ${place}`);
console.log('node core time asked for by our code:');
for (const [fn, t] of [...causedOurs].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(t).padStart(7)}  ${fn}`);
