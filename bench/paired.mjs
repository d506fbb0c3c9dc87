// Paired A/B throughput of a few apps, for questions `npm run bench` is too coarse for (its 16 apps of
// the memory part share the cores, and one run's ratio moves by ±0.07):
//   node bench/paired.mjs 7 2 POST /counter peer=bench/peer-app/dist/main.js ours=bench/probe-app/dist/main.js \
//     guard=bench/probe-app/dist/main.js:SESSION_BINDING=guard floor=bench/peer-app/dist/main.js:PEER_STORE=none
// (rounds, seconds per run, request, then name=script[:ENV=value,...] per app; the first app is the base).
// Each round drives every app in turn (order reversed every other round); printed per app: the median
// req/s, its ratio to the base, the median of the per-round ratios ("paired"), and the app's user and
// system CPU per request (all its threads, /proc) beside the load generator's own use of its core, so a
// run where the generator, not the app, set the rate shows. BENCH_PIN=1: the load generator (this
// process) on core 0 and each app on core 1 (taskset), each on a core of its own.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { drive, makeSessions } from './lib/load.mjs';
import { startApp } from './lib/processes.mjs';

const [rounds = '7', seconds = '2', method = 'POST', path = '/counter', ...specs] = process.argv.slice(2);
const pin = process.env.BENCH_PIN === '1';
if (pin) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });

/** User and system CPU (µs) a process has used, all threads: /proc/<pid>/stat, in clock ticks of 10 ms. */
const cpu = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(fields[11]) * 1e4, system: Number(fields[12]) * 1e4 };
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const apps = [];
for (const spec of specs) {
  const name = spec.slice(0, spec.indexOf('='));
  const rest = spec.slice(name.length + 1);
  // The first colon ends the script: values may hold more (REDIS_URL=redis://host:port).
  const [script, envs] = rest.includes(':') ? [rest.slice(0, rest.indexOf(':')), rest.slice(rest.indexOf(':') + 1)] : [rest, ''];
  const env = Object.fromEntries(
    envs
      .split(',')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const app = await startApp(script, { SESSION_STORE: 'memory', PEER_STORE: 'memory', APP_SHAPE: 'bare', ...env });
  if (pin) execFileSync('taskset', ['-a', '-p', '-c', '1', String(app.pid)], { stdio: 'ignore' });
  // An app with no session layer (the peer with PEER_STORE=none, the floor) sets no cookie: it is
  // sent the first app's cookies, so its requests are the same bytes.
  const cookies = env.PEER_STORE === 'none' ? apps[0].cookies : await makeSessions(app.base, 32);
  await drive({ base: app.base, method, path, cookies, seconds: 2 }); // warm-up
  apps.push({ name, app, cookies, rps: [], user: 0, system: 0, generator: 0, wall: 0, served: 0 });
}
for (let r = 0; r < Number(rounds); r++) {
  for (const a of r % 2 ? [...apps].reverse() : apps) {
    const [before, generatorBefore, start] = [cpu(a.app.pid), process.cpuUsage(), performance.now()];
    const run = await drive({ base: a.app.base, method, path, cookies: a.cookies, seconds: Number(seconds) });
    const [after, generator] = [cpu(a.app.pid), process.cpuUsage(generatorBefore)];
    a.wall += (performance.now() - start) * 1000;
    a.user += after.user - before.user;
    a.system += after.system - before.system;
    a.generator += generator.user + generator.system;
    a.served += run.total;
    a.rps.push(run.rps);
  }
}
const [base] = apps;
console.log(`${method} ${path}, ${rounds} rounds of ${seconds} s, ${pin ? 'load generator on core 0, apps on core 1' : 'unpinned'}`);
for (const a of apps) {
  const paired = median(a.rps.map((x, i) => x / base.rps[i]));
  console.log(
    `${a.name.padEnd(12)} ${median(a.rps).toFixed(0).padStart(6)} req/s  ${(median(a.rps) / median(base.rps)).toFixed(2)}×  paired ${paired.toFixed(2)}×  ` +
      `CPU per request: user ${(a.user / a.served).toFixed(0)} µs, system ${(a.system / a.served).toFixed(0)} µs  ` +
      `(app busy ${((100 * (a.user + a.system)) / a.wall).toFixed(0)} %, load generator ${((100 * a.generator) / a.wall).toFixed(0)} %)`,
  );
}
await Promise.all(apps.map((a) => a.app.stop()));
process.exit(0);
