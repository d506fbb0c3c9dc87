// The Redis-only figures of `npm run bench`, each read from the server: round trips per request,
// what a waiting request sends per second, and the memory a session takes.
import { allKeys, clientNames, memoryOf } from './redis.mjs';

async function cookieOf(response) {
  await response.arrayBuffer();
  const setCookie = response.headers.get('set-cookie');
  if (!response.ok || !setCookie) throw new Error(`${response.url}: ${response.status} and no cookie`);
  return setCookie.split(';')[0];
}

const tally = (commands) => {
  const counts = {};
  for (const c of commands) counts[c.command] = (counts[c.command] ?? 0) + 1;
  return counts;
};

/**
 * Round trips to Redis per request of each kind: `requests` sequential requests on one session, the
 * commands of the app's connections (named `name`) counted by MONITOR (a script's own commands
 * excluded: one EVALSHA is one round trip), divided by `requests`.
 */
export async function roundTrips({ redis, watcher, base, name, requests = 20 }) {
  const cookie = await cookieOf(await fetch(`${base}/counter`, { method: 'POST' }));
  // [kind, method, path, with the session's cookie]
  const kinds = [
    ['read-write', 'POST', '/counter', true],
    ['read-only', 'GET', '/counter', true],
    ['no session', 'GET', '/ping', true],
    ['new session', 'POST', '/counter', false],
  ];
  const rows = [];
  for (const [kind, method, path, withCookie] of kinds) {
    const headers = withCookie ? { cookie } : {};
    // One first (not counted): a script's first run on a server costs one more round trip (EVALSHA
    // answered NOSCRIPT, then EVAL), once per server.
    await (await fetch(`${base}${path}`, { method, headers })).arrayBuffer();
    await watcher.settle();
    watcher.take();
    for (let i = 0; i < requests; i++) {
      const response = await fetch(`${base}${path}`, { method, headers });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`);
    }
    await watcher.settle();
    const names = await clientNames(redis);
    const app = watcher.take().filter((c) => !c.lua && names.get(c.addr) === name);
    rows.push({ kind, request: `${method} ${path}`, perRequest: app.length / requests, commands: tally(app) });
  }
  return rows;
}

/**
 * A request waiting on one instance (`waiter`) while a request on another (`holder`) holds its
 * session's lock for `holdMs`: the commands the waiter's instance sends while it waits (its
 * connections are named `waiterName`), counted over the whole wait and from its second second on,
 * and how long after the holder's release (server clock) the waiter's next command came.
 */
export async function waitingCost({ redis, watcher, holder, waiter, holderName, waiterName, holdMs = 6000 }) {
  const cookie = await cookieOf(await fetch(`${holder}/counter`, { method: 'POST' }));
  // Both instances' connections open (a request each), so their addresses are known.
  await (await fetch(`${waiter}/counter`, { headers: { cookie } })).arrayBuffer();
  await watcher.settle();
  watcher.take();
  const before = await clientNames(redis);
  const holderAddrs = new Set([...before].filter(([, name]) => name === holderName).map(([addr]) => addr));
  const fromHolder = (c) => !c.lua && holderAddrs.has(c.addr);

  const locked = watcher.next(fromHolder);
  const held = fetch(`${holder}/counter/work?delayMs=${holdMs}`, { method: 'POST', headers: { cookie } }).then((r) => r.json());
  await locked;
  const released = watcher.next(fromHolder);
  const waited = fetch(`${waiter}/counter`, { method: 'POST', headers: { cookie } }).then((r) => r.json());
  const release = await released;
  const [heldBody, waitedBody] = await Promise.all([held, waited]);
  if (waitedBody.count !== heldBody.count + 1) throw new Error(`waiting cost: counts ${heldBody.count} then ${waitedBody.count}`);
  await watcher.settle();
  const names = await clientNames(redis);
  const commands = watcher.take().filter((c) => !c.lua && names.get(c.addr) === waiterName);
  const during = commands.filter((c) => c.time < release.time);
  const after = commands.filter((c) => c.time >= release.time);
  if (during.length === 0 || after.length === 0) throw new Error('waiting cost: the waiter sent nothing while it waited');
  const start = during[0].time;
  const waitS = release.time - start;
  const steady = during.filter((c) => c.time >= start + 1);
  return {
    waitS,
    commands: during.length,
    perSecond: during.length / waitS,
    perSecondAfterFirst: steady.length / (waitS - 1),
    byCommand: tally(during),
    wakeMs: (after[0].time - release.time) * 1000,
  };
}

/**
 * Redis memory of one session holding `kb` KB of notes (random hex, as `bench:cost`): the keys a
 * `PUT /notes?kb=` of a new session added to the server (the bench's Redis holds nothing else
 * meanwhile), MEMORY USAGE summed; median of `sessions` sessions.
 */
export async function memoryPerSession({ redis, base, kb, sessions = 3 }) {
  const samples = [];
  for (let i = 0; i < sessions; i++) {
    const before = new Set(await allKeys(redis));
    await cookieOf(await fetch(`${base}/notes?kb=${kb}`, { method: 'PUT' }));
    const added = (await allKeys(redis)).filter((key) => !before.has(key));
    samples.push({ keys: added.length, bytes: await memoryOf(redis, added) });
  }
  samples.sort((a, b) => a.bytes - b.bytes);
  return samples[Math.floor(samples.length / 2)];
}
