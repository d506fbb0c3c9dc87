// `npm run bench`: throughput, lost updates, lock hand-off and memory, ours vs the peer
// (NestJS + express-session, MemoryStore, connect-dynamodb and connect-redis), side by side in one run.
//
//   npm run bench     (about 25 minutes on 2 cores; env: BENCH_SECONDS=2 per measurement,
//                      BENCH_ROUNDS=7 interleaved rounds (many short ones: on a shared machine an
//                      app's speed drifts within seconds, and each round's ratio compares
//                      neighbours in time), BENCH_USERS=32 virtual users,
//                      BENCH_ONLY=throughput,lost,handoff,memory,redis to run a part (redis: round
//                      trips, a waiting request's commands, memory per session, read from the server),
//                      BENCH_STORES=memory for the throughput and lost updates of one store
//                      (memory, dynamodb, redis),
//                      BENCH_SHAPE=bare,interceptor: the app shapes of the in-memory throughput, both
//                      sides alike: bare, or with one no-op global interceptor (DynamoDB: bare only;
//                      Redis: the interceptor shape under the default binding only),
//                      BENCH_BINDING=interceptor,guard: how our in-memory app binds the session
//                      (the decorators' interceptor, or `@UseGuards(SessionStateGuard)`), in memory and
//                      on Redis; each binding its own row beside the peer,
//                      BENCH_WARM=2: seconds of unmeasured load each app runs before its turn in a
//                      round (0: none, the method before Stop 34; docs/BENCHMARKS.md says why),
//                      BENCH_BEFORE=path/to/probe-app/dist/main.js (an earlier version, side by side;
//                      BENCH_BEFORE_LABEL names it, e.g. a commit),
//                      BENCH_OUT=docs/BENCHMARKS.md, BENCH_JSON=bench/results/latest.json)
//
// Every app is its own process on 127.0.0.1; the load comes from this process (autocannon).
// Results: a JSON file, SVG charts under docs/bench/, and a section of docs/BENCHMARKS.md between
// markers (the rest of that file, e.g. the cost section of `npm run bench:cost`, is left as it is).
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { alternatingRound, handoffRound, lostUpdates } from './lib/contention.mjs';
import { pollingCost } from './lib/polling-cost.mjs';
import { drive, makeSessions } from './lib/load.mjs';
import { startApp, startDynamoDBLocal } from './lib/processes.mjs';
import { startRedis, watchCommands } from './lib/redis.mjs';
import { memoryPerSession, roundTrips, waitingCost } from './lib/redis-figures.mjs';
import { writeReport } from './lib/report.mjs';
import { median } from './lib/stats.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const USERS = Number(process.env.BENCH_USERS ?? 32);
/**
 * Each app's turn in a round comes after about 100 s idle (the other apps' turns), long enough for V8's
 * memory reducer to shrink its heap: its next second or two then run up to twice as dear (Stop 34's
 * --trace-gc). An unmeasured run before each turn measures every request in the steady state.
 */
const WARM = Number(process.env.BENCH_WARM ?? 2);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'throughput,lost,handoff,memory,redis').split(','));
const STORES = new Set((process.env.BENCH_STORES ?? 'memory,dynamodb,redis').split(','));
const STORE_ORDER = ['memory', 'dynamodb', 'redis'];
/** Store options of the "polling only" waiting figure: no subscription, the module's poll schedule. */
const REDIS_POLLING_ONLY = { releaseNotifications: false };
const SHAPES = (process.env.BENCH_SHAPE ?? 'bare,interceptor').split(',');
const BINDINGS = (process.env.BENCH_BINDING ?? 'interceptor,guard').split(',');
const OUT = process.env.BENCH_OUT ?? 'docs/BENCHMARKS.md';
const JSON_OUT = process.env.BENCH_JSON ?? 'bench/results/latest.json';
const OURS = process.env.BENCH_OURS ?? 'bench/probe-app/dist/main.js';
const PEER = 'bench/peer-app/dist/main.js';
/**
 * The floor of the in-memory figures: the peer app with no session layer at all (PEER_STORE=none),
 * one per app shape, sent the peer's cookies. What each side adds to it is its session layer's cost.
 */
const FLOOR = { PEER_STORE: 'none' };
/** Optional: our probe app built from an earlier version (path to its main.js), measured in the same rounds. */
const BEFORE = process.env.BENCH_BEFORE;
const BEFORE_LABEL = process.env.BENCH_BEFORE_LABEL ?? 'an earlier version';
const SIDES = BEFORE ? ['before', 'ours', 'peer'] : ['ours', 'peer'];
const HANDOFF = { requests: 20, workMs: 20, rounds: 5 };
/** The hand-off across instances: each of two instances sends `perInstance` requests in a row, `rounds` times. */
const CROSS = { perInstance: 10, workMs: 20, rounds: 5 };
const ENDPOINTS = [
  ['POST', '/counter'],
  ['GET', '/counter'],
  ['GET', '/ping'],
];

/** CPU time (user + system, all threads) a process has used, in µs: Linux's /proc; undefined elsewhere. */
const cpuMicroseconds = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
};
/** Linux's USER_HZ, the unit of /proc/<pid>/stat's times (100 on every mainstream build). */
const CLOCK_TICKS = 100;
const log = (...args) => console.log(new Date().toISOString().slice(11, 19), ...args);

const results = {
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  },
  method: {
    seconds: SECONDS,
    rounds: ROUNDS,
    users: USERS,
    warmSeconds: WARM,
    handoff: HANDOFF,
    crossHandoff: CROSS,
    ...(BEFORE && { before: BEFORE_LABEL }),
  },
};

const dynamodb = await startDynamoDBLocal();
log(`DynamoDB Local on ${dynamodb.endpoint}`);
const oursDynamo = (table) => ({
  SESSION_STORE: 'dynamodb',
  DYNAMODB_ENDPOINT: dynamodb.endpoint,
  SESSION_CREATE_TABLE: 'true',
  SESSION_TABLE: table,
});
// Keyed by store, and for the in-memory store's other app shapes `memory+<shape>` (see BENCH_SHAPE).
const apps = {};
const configs = {};
if (STORES.has('memory') || ONLY.has('handoff')) {
  // The lost updates and the hand-off run on the bare app.
  const started = STORES.has('memory') ? SHAPES : [];
  for (const shape of ONLY.has('handoff') || ONLY.has('lost') ? [...new Set(['bare', ...started])] : started) {
    // The interceptor binding (the default) is always started: the lost updates and the hand-off run on it.
    for (const binding of new Set(['interceptor', ...BINDINGS])) {
      const key = `memory${shape === 'bare' ? '' : `+${shape}`}${binding === 'interceptor' ? '' : `+${binding}`}`;
      const env = { APP_SHAPE: shape };
      apps[key] = {
        ours: await startApp(OURS, { ...env, SESSION_STORE: 'memory', SESSION_BINDING: binding }),
        peer: await startApp(PEER, { ...env, PEER_STORE: 'memory' }),
      };
      if (BEFORE) apps[key].before = await startApp(BEFORE, { ...env, SESSION_STORE: 'memory', SESSION_BINDING: binding });
      configs[key] = { store: 'memory', shape, binding };
    }
  }
}
/** Per measured in-memory app shape, the app without a session layer (see FLOOR). */
const floors = {};
if (STORES.has('memory') && ONLY.has('throughput')) for (const shape of SHAPES) floors[shape] = await startApp(PEER, { APP_SHAPE: shape, ...FLOOR });
if (STORES.has('dynamodb') || ONLY.has('handoff')) {
  apps.dynamodb = {
    ours: await startApp(OURS, oursDynamo('bench-sessions')),
    peer: await startApp(PEER, { DYNAMODB_ENDPOINT: dynamodb.endpoint, PEER_TABLE: 'bench-peer' }),
  };
  if (BEFORE) apps.dynamodb.before = await startApp(BEFORE, oursDynamo('bench-before'));
  configs.dynamodb = { store: 'dynamodb', shape: 'bare' };
}
// One redis-server for both sides (ours: RedisSessionStateStore; the peer: connect-redis on node-redis).
const REDIS = STORES.has('redis') || ONLY.has('handoff') || ONLY.has('redis');
const redis = REDIS ? await startRedis() : undefined;
if (redis) log(`redis-server ${redis.version} on ${redis.url}`);
/** Our probe app on the bench's Redis, its connections named `name` (`options`: more store options, JSON). */
const oursRedis = (name, options) => ({
  SESSION_STORE: 'redis',
  REDIS_URL: redis.url,
  REDIS_CLIENT_NAME: name,
  ...(options && { BENCH_REDIS_OPTIONS: JSON.stringify(options) }),
});
if (REDIS) {
  apps.redis = {
    ours: await startApp(OURS, oursRedis('ours')),
    peer: await startApp(PEER, { PEER_STORE: 'redis', REDIS_URL: redis.url, REDIS_CLIENT_NAME: 'peer' }),
  };
  if (BEFORE) apps.redis.before = await startApp(BEFORE, oursRedis('before'));
  configs.redis = { store: 'redis', shape: 'bare', binding: 'interceptor' };
  // Our other bindings on Redis too (bare), each beside a peer of its own.
  for (const binding of BINDINGS.filter((b) => b !== 'interceptor')) {
    apps[`redis+${binding}`] = {
      ours: await startApp(OURS, { ...oursRedis(`ours-${binding}`), SESSION_BINDING: binding }),
      peer: await startApp(PEER, { PEER_STORE: 'redis', REDIS_URL: redis.url, REDIS_CLIENT_NAME: `peer-${binding}` }),
    };
    if (BEFORE) apps[`redis+${binding}`].before = await startApp(BEFORE, { ...oursRedis(`before-${binding}`), SESSION_BINDING: binding });
    configs[`redis+${binding}`] = { store: 'redis', shape: 'bare', binding };
  }
  // The shape most apps have (one global interceptor, both sides), under the default binding: the binding
  // the bare shape's default pays Nest's interceptor pipeline for, which every route of such an app runs anyway.
  if (SHAPES.includes('interceptor')) {
    const env = { APP_SHAPE: 'interceptor' };
    apps['redis+interceptor'] = {
      ours: await startApp(OURS, { ...env, ...oursRedis('ours-interceptor') }),
      peer: await startApp(PEER, { ...env, PEER_STORE: 'redis', REDIS_URL: redis.url, REDIS_CLIENT_NAME: 'peer-interceptor' }),
    };
    if (BEFORE) apps['redis+interceptor'].before = await startApp(BEFORE, { ...env, ...oursRedis('before-interceptor') });
    configs['redis+interceptor'] = { store: 'redis', shape: 'interceptor', binding: 'interceptor' };
  }
}
const measured = Object.keys(apps).filter(
  (key) =>
    STORES.has(configs[key].store) &&
    (configs[key].store === 'dynamodb' || BINDINGS.includes(configs[key].binding)) &&
    (configs[key].store !== 'memory' || SHAPES.includes(configs[key].shape)),
);
log('apps up');

if (ONLY.has('throughput')) {
  const cookies = {};
  for (const store of measured) for (const who of SIDES) cookies[`${store}/${who}`] = await makeSessions(apps[store][who].base, USERS);
  const runs = {};
  /** The floor's runs, by shape and request, one per round (index: the round). */
  const floorRuns = {};
  const memoryKeyOf = (shape) => measured.find((key) => configs[key].store === 'memory' && configs[key].shape === shape);
  const runFloor = async (shape, [method, path], seconds) => {
    const { pid, base } = floors[shape];
    const before = cpuMicroseconds(pid);
    const result = await drive({ base, method, path, cookies: cookies[`${memoryKeyOf(shape)}/peer`], seconds });
    const after = cpuMicroseconds(pid);
    return { ...result, cpuUs: before === undefined || after === undefined ? undefined : (after - before) / result.total };
  };
  // With each run, the CPU time the app's process spent per request (all its threads, the garbage
  // collector's included): steadier than req/s on a shared machine, where the apps' share of the
  // cores varies from run to run.
  const run = async (store, who, [method, path], seconds) => {
    const { pid } = apps[store][who];
    const before = cpuMicroseconds(pid);
    const result = await drive({ base: apps[store][who].base, method, path, cookies: cookies[`${store}/${who}`], seconds });
    const after = cpuMicroseconds(pid);
    return { ...result, cpuUs: before === undefined || after === undefined ? undefined : (after - before) / result.total };
  };
  // Warm-up: JIT, connection pools, DynamoDB Local's own warm-up.
  for (const store of measured) for (const endpoint of ENDPOINTS) for (const who of SIDES) await run(store, who, endpoint, 1);
  for (const shape of Object.keys(floors)) for (const endpoint of ENDPOINTS) await runFloor(shape, endpoint, 1);
  /** Per app, the req/s of its unmeasured run after idle, one per round (the cost WARM keeps out). */
  const afterIdle = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const shape of Object.keys(floors)) {
      if (WARM > 0) await runFloor(shape, ENDPOINTS[0], WARM);
      for (const endpoint of ENDPOINTS) {
        const result = await runFloor(shape, endpoint, SECONDS);
        (floorRuns[`${shape} ${endpoint.join(' ')}`] ??= []).push(result);
        log(
          `round ${round + 1}/${ROUNDS} floor ${shape} ${endpoint.join(' ')}: ${result.rps.toFixed(0)} req/s ${result.cpuUs?.toFixed(0) ?? '?'} µs CPU`,
        );
      }
    }
    // Alternate who goes first, so neither always runs on a machine the other just warmed.
    const order = round % 2 === 0 ? SIDES : [...SIDES].reverse();
    for (const store of measured) {
      if (WARM > 0) {
        const warmed = {};
        for (const who of order) warmed[who] = await run(store, who, ENDPOINTS[0], WARM);
        (afterIdle[store] ??= []).push(warmed);
      }
      for (const endpoint of ENDPOINTS) {
        const pair = {};
        for (const who of order) pair[who] = await run(store, who, endpoint, SECONDS);
        const key = `${store} ${endpoint.join(' ')}`;
        (runs[key] ??= []).push(pair);
        log(
          `round ${round + 1}/${ROUNDS} ${key}: ${SIDES.map((who) => `${who} ${pair[who].rps.toFixed(0)} req/s ${pair[who].cpuUs?.toFixed(0) ?? '?'} µs CPU`).join(', ')}`,
        );
      }
    }
  }
  results.throughput = Object.entries(runs).map(([key, pairs]) => {
    const [config, method, path] = key.split(' ');
    const { store, shape, binding } = configs[config];
    const side = (who) => ({
      rps: median(pairs.map((p) => p[who].rps)),
      p50: median(pairs.map((p) => p[who].p50)),
      p99: median(pairs.map((p) => p[who].p99)),
      ...(pairs.every((p) => p[who].cpuUs !== undefined) && { cpuUs: median(pairs.map((p) => p[who].cpuUs)) }),
    });
    const row = {
      store,
      shape,
      ...(binding && binding !== 'interceptor' && { binding }),
      request: `${method} ${path}`,
      ours: side('ours'),
      peer: side('peer'),
      ratio: median(pairs.map((p) => p.ours.rps / p.peer.rps)),
    };
    row.roundRatios = pairs.map((p) => p.ours.rps / p.peer.rps);
    // The same comparison by CPU time per request (peer / ours: above 1 when ours costs less).
    if (pairs.every((p) => p.ours.cpuUs && p.peer.cpuUs)) row.cpuRatio = median(pairs.map((p) => p.peer.cpuUs / p.ours.cpuUs));
    if (BEFORE) Object.assign(row, { before: side('before'), beforeRatio: median(pairs.map((p) => p.before.rps / p.peer.rps)) });
    // In memory: each side's session layer, the time it adds per request to the floor of its shape
    // (1/req/s: at saturation, the app's time per request), and the layer ours may cost for the 1.1× goal.
    const floor = store === 'memory' ? floorRuns[`${shape} ${method} ${path}`] : undefined;
    if (floor) {
      const perRequest = (rps) => 1e6 / rps;
      const layer = (who) => median(pairs.map((p, i) => perRequest(p[who].rps) - perRequest(floor[i].rps)));
      row.floor = { rps: median(floor.map((f) => f.rps)), usPerRequest: median(floor.map((f) => perRequest(f.rps))) };
      row.layerUs = { ours: layer('ours'), peer: layer('peer') };
      row.layerBudgetUs = median(pairs.map((p, i) => perRequest(p.peer.rps) / 1.1 - perRequest(floor[i].rps)));
    }
    return row;
  });
  // What the warm-up keeps out: each app's first run after its idle, ours / peer (median of the rounds).
  if (WARM > 0) {
    results.afterIdle = Object.entries(afterIdle).map(([key, warmed]) => ({
      ...configs[key],
      request: ENDPOINTS[0].join(' '),
      ours: median(warmed.map((w) => w.ours.rps)),
      peer: median(warmed.map((w) => w.peer.rps)),
      ratio: median(warmed.map((w) => w.ours.rps / w.peer.rps)),
    }));
  }
  // Nest's interceptor pipeline, as the floor measures it: one no-op global interceptor's cost per request.
  if (floorRuns['bare GET /ping'] && floorRuns['interceptor GET /ping']) {
    results.interceptorPipelineUs = Object.fromEntries(
      ENDPOINTS.map(([method, path]) => {
        const [bare, shaped] = [floorRuns[`bare ${method} ${path}`], floorRuns[`interceptor ${method} ${path}`]];
        return [`${method} ${path}`, median(bare.map((b, i) => 1e6 / shaped[i].rps - 1e6 / b.rps))];
      }),
    );
  }
}

if (ONLY.has('lost')) {
  results.lostUpdates = [];
  for (const store of Object.keys(apps).filter((key) => STORES.has(key))) {
    const row = { store, concurrent: 50 };
    for (const who of ['ours', 'peer']) {
      const trials = [];
      for (let i = 0; i < 3; i++) trials.push(await lostUpdates(apps[store][who].base, 50));
      row[who] = median(trials);
    }
    results.lostUpdates.push(row);
    log(`lost updates of 50, ${store}: ours ${row.ours}, peer ${row.peer}`);
  }
}

if (ONLY.has('handoff')) {
  const second = await startApp(OURS, oursDynamo('bench-sessions'));
  const secondRedis = await startApp(OURS, oursRedis('ours-2'));
  const setups = [
    ['1 instance, in-memory store', [apps.memory.ours.base]],
    ...(BEFORE ? [[`before (${BEFORE_LABEL}): 1 instance, in-memory store`, [apps.memory.before.base]]] : []),
    ['1 instance, DynamoDB Local', [apps.dynamodb.ours.base]],
    ['2 instances, one DynamoDB Local table', [apps.dynamodb.ours.base, second.base]],
    ['1 instance, Redis', [apps.redis.ours.base]],
    ['2 instances, one Redis', [apps.redis.ours.base, secondRedis.base]],
  ];
  results.handoff = [];
  for (const [setup, bases] of setups) {
    await handoffRound(bases, HANDOFF.requests, HANDOFF.workMs); // warm-up
    const rounds = [];
    for (let i = 0; i < HANDOFF.rounds; i++) rounds.push(await handoffRound(bases, HANDOFF.requests, HANDOFF.workMs));
    const row = {
      setup,
      totalMs: median(rounds.map((r) => r.elapsed)),
      idealMs: HANDOFF.requests * HANDOFF.workMs,
      handoffMs: median(rounds.map((r) => r.handoff)),
      worstMs: Math.max(...rounds.map((r) => r.handoff)),
      handoffNominalMs: median(rounds.map((r) => r.handoffNominal)),
    };
    if (rounds.every((r) => r.serverGap !== undefined)) {
      row.serverGapMs = median(rounds.map((r) => r.serverGap));
      row.workOverrunMs = median(rounds.map((r) => r.workOverrun));
    }
    results.handoff.push(row);
    log(
      `hand-off, ${String(setup)}: ${row.handoffMs.toFixed(2)} ms (worst ${row.worstMs.toFixed(2)}; ${row.handoffNominalMs.toFixed(2)} counting the timers' overrun), ` +
        `between handlers ${row.serverGapMs?.toFixed(2)} ms`,
    );
  }
  // The lock passed from one instance to the other at every hand-off (each instance sends its
  // requests one after another), measured between the handlers.
  results.crossHandoff = [];
  for (const { setup, bases } of [
    { setup: '2 instances, one DynamoDB Local table', bases: [apps.dynamodb.ours.base, second.base] },
    { setup: '2 instances, one Redis', bases: [apps.redis.ours.base, secondRedis.base] },
  ]) {
    await alternatingRound(bases, CROSS.perInstance, CROSS.workMs); // warm-up
    const rounds = [];
    for (let i = 0; i < CROSS.rounds; i++) rounds.push(await alternatingRound(bases, CROSS.perInstance, CROSS.workMs));
    const gaps = rounds.flatMap((r) => r.crossGaps).sort((a, b) => a - b);
    const row = {
      setup,
      handoffs: rounds.reduce((sum, r) => sum + r.handoffs, 0),
      crossHandoffs: gaps.length,
      medianMs: median(gaps),
      p90Ms: gaps[Math.floor(gaps.length * 0.9)],
      worstRoundMs: Math.max(...rounds.map((r) => r.crossGap)),
    };
    results.crossHandoff.push(row);
    log(
      `hand-off across instances, ${row.setup}: ${row.medianMs.toFixed(2)} ms median between handlers (p90 ${row.p90Ms.toFixed(2)}), ` +
        `${row.crossHandoffs} of ${row.handoffs} hand-offs across`,
    );
  }
  await second.stop();
  await secondRedis.stop();
  // The floor of a hand-off on DynamoDB: the holder's save-and-release and the next lock are two
  // writes. What one call takes on this DynamoDB Local, from this process, one at a time:
  const client = new DynamoDBClient({
    endpoint: dynamodb.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const Key = { SessionId: { S: 'bench-latency-probe' } };
  const timeCall = async (command) => {
    const times = [];
    for (let i = 0; i < 40; i++) {
      const t = performance.now();
      await client.send(command);
      times.push(performance.now() - t);
    }
    return median(times.slice(10));
  };
  results.dynamodbLocalCallMs = {
    UpdateItem: await timeCall(
      new UpdateItemCommand({
        TableName: 'bench-sessions',
        Key,
        UpdateExpression: 'SET #n = :n',
        ExpressionAttributeNames: { '#n': 'n' },
        ExpressionAttributeValues: { ':n': { N: '1' } },
      }),
    ),
    GetItem: await timeCall(new GetItemCommand({ TableName: 'bench-sessions', Key, ConsistentRead: true })),
  };
  client.destroy();
  log(
    `DynamoDB Local, one call at a time: UpdateItem ${results.dynamodbLocalCallMs.UpdateItem.toFixed(1)} ms, GetItem ${results.dynamodbLocalCallMs.GetItem.toFixed(1)} ms`,
  );
}
// What a request waiting on another instance's lock costs: 0.1 (every poll a lock attempt,
// 10 → 500 ms) and now (a read of the lock item per poll, 5 → 50 ms).
results.polling = [
  { schedule: '0.1: a lock attempt per poll', ...pollingCost({ pollMinMs: 10, pollMaxMs: 500, pollUnit: 'WCU' }) },
  { schedule: 'now (default): a read per poll', ...pollingCost({ pollMinMs: 5, pollMaxMs: 50, pollUnit: 'RCU' }) },
];

if (ONLY.has('redis')) {
  // The floor of any figure: one round trip to this Redis, idle, one at a time (PING from the bench).
  const pings = [];
  for (let i = 0; i < 40; i++) {
    const t = performance.now();
    await redis.admin.ping();
    pings.push(performance.now() - t);
  }
  // The same after the pause a hand-off's waiter and Redis sit idle through (the holder's work): what
  // waking an idle process costs on this machine, which a hand-off across instances pays.
  const idlePings = [];
  for (let i = 0; i < 30; i++) {
    await sleep(CROSS.workMs);
    const t = performance.now();
    await redis.admin.ping();
    idlePings.push(performance.now() - t);
  }
  const watcher = await watchCommands(redis);
  results.redis = {
    version: redis.version,
    pingMs: median(pings.slice(10)),
    pingAfterIdleMs: median(idlePings),
    roundTrips: {},
    memory: [],
    waiting: [],
  };
  log(
    `Redis PING, one at a time: ${results.redis.pingMs.toFixed(3)} ms; after ${CROSS.workMs} ms idle: ${results.redis.pingAfterIdleMs.toFixed(3)} ms`,
  );
  for (const who of ['ours', 'peer']) {
    results.redis.roundTrips[who] = await roundTrips({ redis, watcher, base: apps.redis[who].base, name: who });
    log(`Redis round trips per request, ${who}: ${results.redis.roundTrips[who].map((r) => `${r.kind} ${r.perRequest}`).join(', ')}`);
  }
  // A request waiting on another instance's lock: with the wake-up (the default; its fallback poll
  // runs meanwhile), and with polling only (the wake-up off, the module's poll schedule).
  for (const { mode, options } of [
    { mode: 'wake-up (default)', options: undefined },
    { mode: 'polling only', options: REDIS_POLLING_ONLY },
  ]) {
    const holder = await startApp(OURS, oursRedis('bench-holder', options));
    const waiter = await startApp(OURS, oursRedis('bench-waiter', options));
    const row = {
      mode,
      ...(await waitingCost({ redis, watcher, holder: holder.base, waiter: waiter.base, holderName: 'bench-holder', waiterName: 'bench-waiter' })),
    };
    results.redis.waiting.push(row);
    log(
      `waiting ${row.waitS.toFixed(1)} s on another instance's lock, ${row.mode}: ${row.commands} commands (${row.perSecond.toFixed(1)}/s; ` +
        `${row.perSecondAfterFirst.toFixed(1)}/s after the first second) ${JSON.stringify(row.byCommand)}; next command ${row.wakeMs.toFixed(2)} ms after the release`,
    );
    await holder.stop();
    await waiter.stop();
  }
  watcher.close();
  for (const kb of [1, 40]) {
    const row = { kb };
    for (const who of ['ours', 'peer']) row[who] = await memoryPerSession({ redis, base: apps.redis[who].base, kb });
    results.redis.memory.push(row);
    log(`Redis memory of a ${kb} KB session: ours ${row.ours.bytes} B in ${row.ours.keys} keys, peer ${row.peer.bytes} B in ${row.peer.keys}`);
  }
}

for (const store of Object.values(apps)) for (const app of Object.values(store)) await app.stop();
for (const floor of Object.values(floors)) await floor.stop();
await redis?.stop();

if (ONLY.has('memory')) {
  results.memory = ['ours', 'peer'].map((kind) =>
    JSON.parse(execFileSync(process.execPath, ['--expose-gc', 'bench/memory-probe.mjs', kind, '100000'], { encoding: 'utf8' })),
  );
  for (const m of results.memory) log(`100 000 sessions, ${m.kind}: ${m.bytesPerSession.toFixed(0)} B/session, RSS ${m.rssMB.toFixed(0)} MB`);
}

// A partial run (BENCH_ONLY) keeps the other parts of the previous results.
const previous = existsSync(JSON_OUT) ? JSON.parse(readFileSync(JSON_OUT, 'utf8')) : {};
const merged = { ...previous, ...results };
// Throughput and lost updates of a store not measured this time (BENCH_STORES) are kept too.
for (const part of ['throughput', 'lostUpdates']) {
  if (results[part] && previous[part]) {
    // A kept row's "before" was another run's comparison: it goes (this run's "before" may name another version).
    const kept = previous[part].filter((row) => !STORES.has(row.store)).map(({ before: _before, beforeRatio: _beforeRatio, ...row }) => row);
    merged[part] = [...kept, ...results[part]].sort((a, b) => STORE_ORDER.indexOf(a.store) - STORE_ORDER.indexOf(b.store));
  }
}
mkdirSync(dirname(JSON_OUT), { recursive: true });
writeFileSync(JSON_OUT, JSON.stringify(merged, null, 2) + '\n');
writeReport(merged, OUT);
log(`results in ${JSON_OUT}, report in ${OUT}`);
process.exit(0);
