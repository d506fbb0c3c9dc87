// Cost benchmark: DynamoDB capacity units and calls per request, counted from ConsumedCapacity.
//
//   npm run bench:cost        (BENCH_REQUESTS=10 per kind and size; BENCH_OUT=docs/BENCHMARKS.md)
//
// Starts DynamoDB Local and, in front of it, a counting proxy that adds `ReturnConsumedCapacity:
// TOTAL` to every item call and sums the units DynamoDB answers with (DynamoDB Local applies
// DynamoDB's own rules). Both apps talk to DynamoDB only through the proxy:
//   - ours: the sample app (sample-app/dist) on the DynamoDB store;
//   - peer: NestJS + express-session + connect-dynamodb, wired as NestJS's docs show (bench/peer-app).
// For each session size (notes of random hex, which gzip halves), one warm session per app, and
// BENCH_REQUESTS requests of each kind: changing read-write (POST /counter), unchanged read-write
// (GET /notes), read-only (GET /counter), no session (GET /ping, cookie sent as a browser would).
// Plus one contended lock attempt on our store: two instances, one holds the lock. And, right after
// a burst of BENCH_BURST (default 40) concurrent changing requests on one session, the size of its
// lock item and the units of an unchanged read-write request (BENCH_REQUESTS of them, averaged).
// BENCH_BEFORE=path/to/sample-app/dist/main.js measures an earlier version beside ours, named by
// BENCH_BEFORE_LABEL, in a section of its own (kept as it is by a run without BENCH_BEFORE).
// A write that fails its condition is charged by DynamoDB but its error reports no units: the
// units of the contended attempt are those of a copy of the item it was charged on, put and metered.
import { createServer, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { writeSection } from './lib/doc-section.mjs';
import { freePort, startApp, startDynamoDBLocal, waitFor } from './lib/processes.mjs';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10);
const OUT = process.env.BENCH_OUT ?? 'docs/BENCHMARKS.md';
const OURS = 'sample-app/dist/main.js';
/** Optional: a sample app built from an earlier version of the store, measured beside ours. */
const BEFORE = process.env.BENCH_BEFORE;
const BEFORE_LABEL = process.env.BENCH_BEFORE_LABEL ?? 'the previous version of the store';
const BURST = Number(process.env.BENCH_BURST ?? 40);
const PEER = 'bench/peer-app/dist/main.js';
const SIZES_KB = [0, 4, 40, 200];
/** On-demand prices assumed (us-east-1, standard table class, since November 2024), USD per million units. */
const PRICE = { write: 0.625, read: 0.125 };
const ITEM_OPERATIONS = new Set(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'BatchGetItem', 'BatchWriteItem']);
const READS = new Set(['GetItem', 'Query', 'BatchGetItem']);

/** The counting proxy: every item call it forwards asks for, and records, its ConsumedCapacity. */
async function startCountingProxy(upstreamPort) {
  const meter = { calls: [], inflight: 0, lastActivity: Date.now() };
  const server = createServer((req, res) => {
    const chunks = [];
    meter.inflight++;
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const operation = String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop();
      let body = Buffer.concat(chunks);
      if (ITEM_OPERATIONS.has(operation)) {
        const input = JSON.parse(body.toString('utf8'));
        input.ReturnConsumedCapacity = 'TOTAL';
        body = Buffer.from(JSON.stringify(input));
      }
      const headers = { ...req.headers, 'content-length': String(body.length) };
      delete headers.expect;
      const forwarded = httpRequest({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers }, (answer) => {
        const parts = [];
        answer.on('data', (c) => parts.push(c));
        answer.on('end', () => {
          const text = Buffer.concat(parts);
          if (ITEM_OPERATIONS.has(operation)) {
            const output = JSON.parse(text.toString('utf8') || '{}');
            meter.calls.push({
              operation,
              units: output.ConsumedCapacity?.CapacityUnits ?? 0,
              read: READS.has(operation),
              conditionFailed: String(output.__type ?? '').endsWith('ConditionalCheckFailedException'),
            });
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(text);
          meter.inflight--;
          meter.lastActivity = Date.now();
        });
      });
      forwarded.on('error', () => {
        meter.inflight--;
        res.destroy();
      });
      forwarded.end(body);
    });
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${port}`, meter, close: () => server.close() };
}

/** Waits until the apps have no DynamoDB call in flight (some finish after the response is sent). */
async function settled(meter) {
  while (meter.inflight > 0 || Date.now() - meter.lastActivity < 30) await sleep(10);
}

const KINDS = [
  ['changing read-write', 'POST', '/counter'],
  ['unchanged read-write', 'GET', '/notes'],
  ['read-only', 'GET', '/counter'],
  ['no session', 'GET', '/ping'],
];

async function send(meter, base, method, path, cookie) {
  const response = await fetch(`${base}${path}`, { method, headers: cookie ? { cookie } : {} });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
  await settled(meter);
  return response;
}

/** Average calls, RCU and WCU per request of each kind, on one warm session of `kb` KB. */
async function measureApp(meter, base, kb) {
  const created = await send(meter, base, 'PUT', `/notes?kb=${kb}`);
  const cookie = created.headers.get('set-cookie').split(';')[0];
  await send(meter, base, 'GET', '/notes', cookie);
  const rows = {};
  for (const [kind, method, path] of KINDS) {
    meter.calls = [];
    for (let i = 0; i < REQUESTS; i++) await send(meter, base, method, path, cookie);
    const sum = (pick) => meter.calls.filter(pick).reduce((total, call) => total + call.units, 0) / REQUESTS;
    rows[kind] = { calls: meter.calls.length / REQUESTS, rcu: sum((c) => c.read), wcu: sum((c) => !c.read) };
  }
  return { rows, cookie };
}

/**
 * One contended lock attempt: instance A holds the lock (POST /counter?delayMs=…), instance B
 * tries. Answers B's failed lock calls until it got the lock, and the units one of them is
 * charged: the session item's write units, measured by putting a copy of it (metered) aside.
 */
async function measureContention(meter, local, table, [a, b], cookie, key) {
  meter.calls = [];
  const holder = fetch(`${a}/counter?delayMs=400`, { method: 'POST', headers: { cookie } });
  await waitFor(async () => meter.calls.some((c) => c.operation === 'UpdateItem'), 'the holder to take the lock', Date.now() + 10_000);
  const { Item } = await local.send(new GetItemCommand({ TableName: table, Key: { SessionId: { S: key } }, ConsistentRead: true }));
  const copy = { ...Item, SessionId: { S: `bench-copy-${Date.now()}` } };
  const { ConsumedCapacity } = await local.send(new PutItemCommand({ TableName: table, Item: copy, ReturnConsumedCapacity: 'TOTAL' }));
  meter.calls = [];
  const contender = await fetch(`${b}/notes`, { headers: { cookie } });
  await (await holder).arrayBuffer();
  await contender.arrayBuffer();
  await settled(meter);
  const failed = meter.calls.filter((c) => c.conditionFailed && c.operation === 'UpdateItem').length;
  return { wcu: ConsumedCapacity.CapacityUnits, failedAttempts: failed };
}

/**
 * An item's size by DynamoDB's rules: each attribute's name plus its value (strings and binaries by
 * their bytes, a number 1 byte per two significant digits plus 1, a boolean 1). Used only to report
 * the size; the units are DynamoDB's own (a metered copy of the item).
 */
function itemBytes(item) {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    size += Buffer.byteLength(name);
    if (value.S !== undefined) size += Buffer.byteLength(value.S);
    else if (value.B !== undefined) size += Buffer.from(value.B).length;
    else if (value.N !== undefined) size += Math.ceil(value.N.replace(/^[-0.]+|\.|0+$/g, '').length / 2) + 1;
    else if (value.SS !== undefined) size += value.SS.reduce((total, entry) => total + Buffer.byteLength(entry), 0);
    else size += 1;
  }
  return size;
}

/** The session's lock item, and the write units DynamoDB charges for it (a copy put aside, metered). */
async function lockItem(local, table, key) {
  const { Item } = await local.send(new GetItemCommand({ TableName: table, Key: { SessionId: { S: key } }, ConsistentRead: true }));
  const copy = { ...Item, SessionId: { S: `bench-copy-${Date.now()}-${Math.random()}` } };
  const { ConsumedCapacity } = await local.send(new PutItemCommand({ TableName: table, Item: copy, ReturnConsumedCapacity: 'TOTAL' }));
  return { bytes: itemBytes(Item), wcu: ConsumedCapacity.CapacityUnits };
}

/**
 * Right after a burst of BURST concurrent changing requests on one session (one instance): the
 * lock item's size, and the units of an unchanged read-write request, averaged over REQUESTS.
 */
async function measureAfterBurst(meter, local, table, base, cookie, key) {
  const answers = await Promise.all(Array.from({ length: BURST }, () => fetch(`${base}/counter`, { method: 'POST', headers: { cookie } })));
  for (const answer of answers) {
    if (!answer.ok) throw new Error(`burst: POST /counter answered ${answer.status} ${await answer.text()}`);
    await answer.arrayBuffer();
  }
  await settled(meter);
  const lock = await lockItem(local, table, key);
  meter.calls = [];
  for (let i = 0; i < REQUESTS; i++) await send(meter, base, 'GET', '/notes', cookie);
  const sum = (pick) => meter.calls.filter(pick).reduce((total, call) => total + call.units, 0) / REQUESTS;
  return { lock, unchanged: { calls: meter.calls.length / REQUESTS, rcu: sum((c) => c.read), wcu: sum((c) => !c.read) } };
}

const dynamo = await startDynamoDBLocal();
const dynamoPort = Number(new URL(dynamo.endpoint).port);
const local = new DynamoDBClient({
  endpoint: dynamo.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const proxy = await startCountingProxy(dynamoPort);
const oursEnv = (table) => ({ SESSION_STORE: 'dynamodb', DYNAMODB_ENDPOINT: proxy.endpoint, SESSION_CREATE_TABLE: 'true', SESSION_TABLE: table });
const setups = [{ name: 'ours', script: OURS, table: 'bench-cost-sessions' }];
if (BEFORE) setups.unshift({ name: 'before', script: BEFORE, table: 'bench-cost-before' });
const baseOf = async (script, env) => (await startApp(script, env)).base;
for (const setup of setups) setup.bases = [await baseOf(setup.script, oursEnv(setup.table)), await baseOf(setup.script, oursEnv(setup.table))];
const peer = await baseOf(PEER, { DYNAMODB_ENDPOINT: proxy.endpoint, PEER_TABLE: 'bench-cost-peer' });

const results = [];
for (const kb of SIZES_KB) {
  const result = { kb };
  for (const setup of setups) {
    const measured = await measureApp(proxy.meter, setup.bases[0], kb);
    const key = decodeURIComponent(measured.cookie.split('=')[1]);
    const contention = await measureContention(proxy.meter, local, setup.table, setup.bases, measured.cookie, key);
    const burst = await measureAfterBurst(proxy.meter, local, setup.table, setup.bases[0], measured.cookie, key);
    result[setup.name] = { ...measured.rows, contention, burst };
  }
  result.peer = (await measureApp(proxy.meter, peer, kb)).rows;
  results.push(result);
  console.error(JSON.stringify(result));
}
proxy.close();
local.destroy();

const fmt = (n) => String(Math.round(n * 100) / 100);
const calls = (n) => `${fmt(n)} call${n === 1 ? '' : 's'}`;
const units = ({ rcu, wcu }) => [wcu ? `${fmt(wcu)} WCU` : '', rcu ? `${fmt(rcu)} RCU` : ''].filter(Boolean).join(' + ') || '0';
const usd = ({ rcu, wcu }) => `$${(rcu * PRICE.read + wcu * PRICE.write).toFixed(2)}`;
const same = (rows) => KINDS.every(([k]) => units(rows[k]) === units(rows[KINDS[0][0]]));
const peerCell = (rows) => (same(rows) ? `${units(rows[KINDS[0][0]])}, any request` : KINDS.map(([k]) => units(rows[k])).join(' / '));
const header = `| session | ${KINDS.map(([k]) => k).join(' | ')} | one contended lock attempt | express-session + connect-dynamodb |`;
const rule = `|---|${KINDS.map(() => '---').join('|')}|---|---|`;
const unitsTable = (name) =>
  [
    header,
    rule,
    ...results.map(
      (r) =>
        `| ${r.kb} KB | ${KINDS.map(([k]) => `${units(r[name][k])} (${calls(r[name][k].calls)})`).join(' | ')} | ` +
        `1 call, ${fmt(r[name].contention.wcu)} WCU | ${peerCell(r.peer)} (${calls(r.peer[KINDS[0][0]].calls)}) |`,
    ),
  ].join('\n');
const priceTable = (name) =>
  [
    header,
    rule,
    ...results.map(
      (r) =>
        `| ${r.kb} KB | ${KINDS.map(([k]) => usd(r[name][k])).join(' | ')} | ${usd({ wcu: r[name].contention.wcu, rcu: 0 })} | ` +
        `${same(r.peer) ? usd(r.peer[KINDS[0][0]]) : KINDS.map(([k]) => usd(r.peer[k])).join(' / ')} |`,
    ),
  ].join('\n');

const burstTable = (name) =>
  [
    '| session | lock item after the burst | unchanged read-write right after it |',
    '|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.kb} KB | ${r[name].burst.lock.bytes} bytes (${fmt(r[name].burst.lock.wcu)} WCU to write) | ` +
        `${units(r[name].burst.unchanged)} (${calls(r[name].burst.unchanged.calls)}) |`,
    ),
  ].join('\n');
const burstIntro = `Right after a burst of ${BURST} concurrent changing requests (\`POST /counter\`) on the session, on one instance:
the size of the session's lock item (its attributes' names and values, as DynamoDB counts them, read from DynamoDB Local)
with the units DynamoDB Local charges for writing it (a copy, metered), and the units of an unchanged read-write request
(\`GET /notes\`, ${REQUESTS} of them, averaged, all within seconds of the burst).`;

const beforeSection =
  BEFORE &&
  `## Cost per request on DynamoDB: ${BEFORE_LABEL}

Generated by \`npm run bench:cost\` with \`BENCH_BEFORE\` (${new Date().toISOString().slice(0, 10)}): the sample app built from ${BEFORE_LABEL},
measured in the same run as the section above was then, the same way.

${unitsTable('before')}

${burstIntro}

${burstTable('before')}
`;

const doc = `## Cost per request on DynamoDB

Generated by \`npm run bench:cost\` (${new Date().toISOString().slice(0, 10)}, ${REQUESTS} requests of each kind per size, DynamoDB Local).
Units are those DynamoDB Local reports in \`ConsumedCapacity\`: a proxy adds \`ReturnConsumedCapacity: TOTAL\` to every item call
of both apps and sums the answers, averaged per request; nothing is computed, except the contended attempt (see below: the units of a metered copy of the item it was charged on). Each session holds notes of random hex, which
gzip halves (our store compresses above 8 KB; connect-dynamodb stores JSON as is).

### Capacity units (and DynamoDB calls) per request

${unitsTable('ours')}

### On-demand price per million requests

Assuming on-demand prices of $${PRICE.write} per million write request units and $${PRICE.read} per million read request units
(us-east-1, standard table class, since November 2024; on-demand bills the units \`ConsumedCapacity\` reports; check your region).

${priceTable('ours')}

### Right after a burst of writes

${burstIntro}

${burstTable('ours')}

### What was measured

- **ours**: the sample app on \`DynamoDBSessionStateStore\`. Changing read-write = \`POST /counter\`; unchanged read-write =
  \`GET /notes\` (read-write behaviour, changes nothing); read-only = \`GET /counter\`; no session = \`GET /ping\` (the
  cookie is sent, as a browser would).
- **express-session + connect-dynamodb**: the same routes on NestJS with express-session (\`resave: false,
  saveUninitialized: false\`) and connect-dynamodb, wired as NestJS's session docs show (\`bench/peer-app\`). It loads the
  session on every request that carries the cookie, whatever the route, and writes it back (\`set\`) or slides it
  (\`touch\`, an \`UpdateItem\` charged by the whole item); it takes no lock.
- **one contended lock attempt**: one instance holds the session's lock, a request on a second instance tries to take it;
  each try is one conditional \`UpdateItem\` that fails. DynamoDB charges a failed conditional write by the size of the item
  it was evaluated on but reports no units in the error, so the figure is what DynamoDB Local reports for putting a copy of
  that item (the session's lock item, while locked).
- Larger sessions keep their items in a data item apart from the small lock item: reading it is the one extra call of an
  unchanged or read-only request (an eventually consistent read, half the units); a changing request writes a new data item
  and then swaps the lock item's reference (4 calls). Superseded data items are never deleted by the store (a delete is
  charged by the item's size): DynamoDB's TTL deletes them at no charge, one day after their session could last have expired,
  plus TTL's own lag (usually within a few days). Until then they cost storage only: at $0.25 per GB-month, a 20 KB data item
  kept three days costs about $0.0000005. A live session's data item has its TTL extended once per 12 hours of activity (one
  write of its size).
`;
writeSection(OUT, 'bench-cost', doc);
if (BEFORE) writeSection(OUT, 'bench-cost-before', beforeSection);
console.log(doc);
if (BEFORE) console.log(beforeSection);
process.exit(0); // the apps and DynamoDB Local are killed on exit (lib/processes.mjs)
