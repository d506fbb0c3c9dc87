/**
 * A randomized, seeded test of the whole lifecycle: several users, each sending bursts of concurrent
 * requests of every kind (read-write, read-only, guard-loaded, throwing, Observable, login with
 * `regenerateId()`, logout with `abandon()`) from real HTTP clients, some of which abort at a
 * random moment; on Express and Fastify, with and without a global interceptor, with the session
 * bound by its interceptor and (in memory) by `@UseGuards(SessionStateGuard)`, in memory and on
 * two app instances sharing DynamoDB Local, with sessions resized across the store's 1 KB inline
 * limit. After each run, the invariants:
 * - never two read-write handlers of one session at once (with the guard binding: unless the first
 *   one's client left before its answer, which ends that request's hold on the session);
 * - the stored sessions hold exactly the acknowledged writes: each acknowledged write once, in the
 *   session its cookie chain leads to; a refused or discarded one nowhere; one whose answer the
 *   client never got (it aborted) at most once; a count equal to the number of tokens;
 * - after a login the old id is gone and the new one holds the data; a request queued in its
 *   instance while a login or logout (on any instance) moved or ended its session answers 409, it
 *   never runs in a new session (README: "Logins and logouts win over queued requests");
 * - a read-only handler sees a consistent session, every write acknowledged before it was sent, no
 *   discarded write;
 * - once all is quiet: nothing locked at the store, no active lease, no waiter, no entry left in
 *   the lock coordinator.
 *
 * The workload is a function of the seed (the scheduling is not). `npm test` runs one fixed seed;
 * for long runs: SESSION_FUZZ_SEED=<first seed> SESSION_FUZZ_RUNS=<seeds> [SESSION_FUZZ_SESSIONS=<users>]
 * [SESSION_FUZZ_REQUESTS=<requests per user>] npx vitest run test/e2e/session-fuzz.e2e.spec.ts
 * (add `-t 'dynamodb fastify'` to run one configuration). A failure names its seed and configuration.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, createTestApp, sessionSetCookie, type AdapterName } from '../support/test-app.js';
import { FuzzModule, FuzzProbe, NoopInterceptor, type FuzzKind, type HandlerRun } from './fixtures/session-fuzz.app.js';
import { prng } from '../support/prng.js';

function intEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, not ${value}`);
  return n;
}

const FIRST_SEED = intEnv('SESSION_FUZZ_SEED', 20261205);
const RUNS = intEnv('SESSION_FUZZ_RUNS', 1);
const USERS = intEnv('SESSION_FUZZ_SESSIONS', 4);
const REQUESTS = intEnv('SESSION_FUZZ_REQUESTS', 14);
const VERBOSE = RUNS > 1 || process.env.SESSION_FUZZ_VERBOSE === '1';

// ---- The workload: a plan per user, drawn from the seed before anything is sent -----------------

const WRITING = new Set<FuzzKind>(['write', 'guarded', 'throw', 'observable', 'login']);
const KIND_WEIGHTS: [FuzzKind, number][] = [
  ['write', 30],
  ['read', 20],
  ['guarded', 12],
  ['observable', 12],
  ['throw', 8],
  ['login', 8],
  ['logout', 4],
];
/** Pad lengths: 0 to 3 000 bytes, across the DynamoDB store's 1 KB inline limit both ways. */
const PADS = [0, 300, 800, 1_100, 1_500, 3_000];

interface PlannedRequest {
  req: string;
  kind: FuzzKind;
  /** Index of the app instance it goes to. */
  instance: number;
  delayMs: number;
  pad?: number;
  refuse: boolean;
  /** Destroy the request this many ms after sending it (undefined: never). */
  abortAfterMs?: number;
}

function planRun(random: () => number, runTag: string, instances: number): PlannedRequest[][][] {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const kind = (): FuzzKind => {
    let dice = random() * KIND_WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
    for (const [k, w] of KIND_WEIGHTS) if ((dice -= w) < 0) return k;
    return 'write';
  };
  return Array.from({ length: USERS }, (_, u) => {
    const bursts: PlannedRequest[][] = [];
    let n = 0;
    const next = (k: FuzzKind, abortable: boolean): PlannedRequest => {
      const req = `${runTag}u${u}r${n++}`;
      return {
        req,
        kind: k,
        instance: Math.floor(random() * instances),
        // Logins and logouts take longer: requests queue behind them (on both instances).
        delayMs: k === 'login' || k === 'logout' ? 5 + Math.floor(random() * 20) : Math.floor(random() * 8),
        pad: random() < 0.6 ? pick(PADS) : undefined,
        refuse: k === 'guarded' && random() < 0.2,
        abortAfterMs: abortable && random() < 0.3 ? Math.floor(random() * 30) : undefined,
      };
    };
    // The first request starts the session; then bursts of 1 to 5 concurrent requests.
    bursts.push([next('write', false)]);
    while (n < REQUESTS) bursts.push(Array.from({ length: Math.min(REQUESTS - n, 1 + Math.floor(random() * 5)) }, () => next(kind(), true)));
    return bursts;
  });
}

// ---- The client: real HTTP requests, aborted by destroying them -------------------------------

interface Sent extends PlannedRequest {
  user: number;
  /** The session id the request's cookie named (null: no cookie). */
  cookieId: string | null;
  sentSeq: number;
  /** 'ack': a 2xx answer; 'refused': another status; 'unknown': no answer (aborted), or a 503. */
  outcome: 'ack' | 'refused' | 'unknown';
  status?: number;
  answerSeq?: number;
  setCookie?: string;
}

function send(port: number, method: string, path: string, headers: Record<string, string>, abortAfterMs: number | undefined) {
  return new Promise<{ status?: number; headers?: IncomingHttpHeaders }>((resolve) => {
    let answer: { status?: number; headers?: IncomingHttpHeaders } = {};
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false });
    const timer = abortAfterMs === undefined ? undefined : setTimeout(() => req.destroy(), abortAfterMs);
    req.on('response', (res) => {
      answer = { status: res.statusCode, headers: res.headers };
      res.on('error', () => {});
      res.resume();
    });
    req.on('error', () => {});
    req.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    req.end();
  });
}

const ROUTES: Record<FuzzKind, [string, string]> = {
  write: ['POST', 'write'],
  guarded: ['POST', 'guarded'],
  throw: ['POST', 'throw'],
  observable: ['POST', 'observable'],
  login: ['POST', 'login'],
  logout: ['POST', 'logout'],
  read: ['GET', 'read'],
};

async function drive(plan: PlannedRequest[][], user: number, ports: number[], probe: FuzzProbe, sent: Sent[]): Promise<void> {
  let cookie: string | undefined; // the user's cookie jar: the last Set-Cookie answered wins, as in a browser
  for (const burst of plan) {
    await Promise.all(
      burst.map(async (p) => {
        const [method, route] = ROUTES[p.kind];
        const query = new URLSearchParams({ r: p.req, d: String(p.delayMs) });
        if (p.pad !== undefined && WRITING.has(p.kind)) query.set('pad', String(p.pad));
        if (p.refuse) query.set('refuse', '1');
        const headers: Record<string, string> = { 'x-fuzz-req': p.req };
        if (cookie !== undefined) headers.cookie = `sid=${cookie}`;
        const s: Sent = { ...p, user, cookieId: cookie ?? null, sentSeq: probe.seq(), outcome: 'unknown' };
        sent.push(s);
        const answer = await send(ports[p.instance], method, `/fuzz/${route}?${query}`, headers, p.abortAfterMs);
        if (answer.status === undefined) return;
        s.status = answer.status;
        s.answerSeq = probe.seq();
        // A 503 may be a store call that timed out after DynamoDB applied it: its fate is unknown.
        s.outcome = answer.status >= 200 && answer.status < 300 ? 'ack' : answer.status === 503 ? 'unknown' : 'refused';
        s.setCookie = sessionSetCookie(answer.headers as Record<string, unknown>);
        if (s.setCookie !== undefined) {
          const value = s.setCookie.split(';')[0].slice('sid='.length);
          cookie = value === '' ? undefined : value;
        }
      }),
    );
  }
}

// ---- The configurations ------------------------------------------------------------------------

interface Instance {
  app: INestApplication;
  port: number;
  lifecycle: SessionStateLifecycle;
  /** The instance's store calls (the module is given a counting wrapper of its store). */
  calls: StoreCallCounter;
}

interface Config {
  name: string;
  adapter: AdapterName;
  globalInterceptor: boolean;
  store: 'memory' | 'dynamodb';
  /** How the routes bind the session: the decorators' interceptor, or `@UseGuards(SessionStateGuard)`. */
  binding: 'interceptor' | 'guard';
}

const CONFIGS: Config[] = (['memory', 'dynamodb'] as const).flatMap((store) =>
  ADAPTERS.flatMap((adapter) =>
    [false, true].flatMap((globalInterceptor) =>
      // The guard binding in memory (its store calls are the interceptor's: DynamoDB adds nothing to it).
      (store === 'memory' ? (['interceptor', 'guard'] as const) : (['interceptor'] as const)).map((binding) => ({
        name: `${store} ${adapter} ${globalInterceptor ? 'with' : 'without'} a global interceptor${binding === 'guard' ? ', guard binding' : ''}`,
        adapter,
        globalInterceptor,
        store,
        binding,
      })),
    ),
  ),
);

const tableName = uniqueTableName('fuzz');
afterAll(() => deleteTable(tableName));

describe.each(CONFIGS.map((c, i) => [c.name, c, i] as const))('session fuzz: %s', (_name, config, configIndex) => {
  const probe = new FuzzProbe();
  const instances: Instance[] = [];
  /** The final state's reader: the memory store itself, or a store of its own on the shared table. */
  let reader: SessionStateStore;
  let dynamodbReader: DynamoDBSessionStateStore | undefined;

  beforeAll(async () => {
    const memory = config.store === 'memory' ? new InMemorySessionStateStore() : undefined;
    // One after the other: the module binds its routes per application at startup.
    for (let i = 0; i < (memory ? 1 : 2); i++) {
      const { store, counter } = countingStore(
        memory ?? new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() }),
      );
      const app = await createTestApp(
        config.adapter,
        { imports: [SessionStateModule.forRoot({ store }), FuzzModule.with(probe, `${'AB'[i]}`, config.binding)] },
        (a) => {
          if (config.globalInterceptor) a.useGlobalInterceptors(new NoopInterceptor());
        },
      );
      await app.listen(0, '127.0.0.1');
      instances.push({ app, port: (app.getHttpServer().address() as AddressInfo).port, lifecycle: app.get(SessionStateLifecycle), calls: counter });
    }
    if (memory) reader = memory;
    else reader = dynamodbReader = new DynamoDBSessionStateStore({ tableName, clientConfig: await localClientConfig() });
  });

  afterAll(async () => {
    await Promise.all(instances.splice(0).map((i) => i.app.close()));
    dynamodbReader?.destroy();
  });

  const seeds = Array.from({ length: RUNS }, (_, k) => FIRST_SEED + k);
  it(
    `keeps every invariant, seed${RUNS > 1 ? `s ${seeds[0]}..${seeds.at(-1)}` : ` ${FIRST_SEED}`}`,
    { timeout: 60_000 + RUNS * 60_000 },
    async () => {
      // Every seed runs (a long run reports all its failing seeds), then the violations of each are shown.
      const failed: string[] = [];
      for (const seed of seeds) {
        const started = Date.now();
        const { violations, summary } = await runOnce(seed);
        if (VERBOSE) console.log(`[fuzz] ${config.name} seed ${seed}: ${summary}, ${Date.now() - started} ms`);
        failed.push(...violations.map((v) => `seed ${seed}: ${v}`));
      }
      expect(failed, `${config.name}; replay one seed with SESSION_FUZZ_SEED=<seed> SESSION_FUZZ_RUNS=1`).toEqual([]);
    },
  );

  async function runOnce(seed: number): Promise<{ violations: string[]; summary: string }> {
    probe.reset();
    const runTag = `s${seed}c${configIndex}`;
    const plan = planRun(prng((seed * 31 + configIndex) | 0), runTag, instances.length);
    const sent: Sent[] = [];
    const ports = instances.map((i) => i.port);
    await Promise.all(plan.map((bursts, user) => drive(bursts, user, ports, probe, sent)));

    const violations: string[] = [];
    // Every session id the run saw (handlers that ran late included, once all is quiet).
    const sessionIds = () => new Set([...[...probe.runs.values()].flatMap((r) => [r.loadedId, r.finalId]), ...sent.flatMap((s) => s.cookieId ?? [])]);
    await checkQuiet(sessionIds, violations);
    violations.push(...probe.violations);
    // The guard binding ends a request's hold on its session when its client leaves before the
    // answer (it cannot see the handler settle; docs/USAGE.md): a handler still running then may
    // overlap the next one. Every other overlap is a violation.
    const clientLeft = (req: string) => sent.some((s) => s.req === req && s.outcome === 'unknown' && s.abortAfterMs !== undefined);
    for (const o of probe.overlaps) if (!(config.binding === 'guard' && clientLeft(o.running))) violations.push(o.message);
    const runs = [...probe.runs.values()];
    const callsBefore = instances.reduce((sum, i) => sum + i.calls.total(), 0);
    const stored = await readFinalState(sessionIds());
    if (instances.reduce((sum, i) => sum + i.calls.total(), 0) !== callsBefore) violations.push('the apps called the store after all was quiet');
    checkAnswers(sent, violations);
    checkReads(sent, violations);
    checkWrites(sent, stored, violations);
    checkLogins(sent, stored, violations);

    const count = (o: Sent['outcome']) => sent.filter((s) => s.outcome === o).length;
    const layout = (l: string) => [...stored.keys()].filter((id) => layouts.get(id) === l).length;
    const summary =
      `${sent.length} requests: ${count('ack')} acknowledged, ${count('refused')} refused, ${count('unknown')} unanswered; ` +
      `${runs.length} handlers ran; ${stored.size} sessions stored` +
      (dynamodbReader ? ` (${layout('inline')} inline, ${layout('data item')} in a data item)` : '') +
      (violations.length > 0 ? `; ${violations.length} VIOLATIONS` : '');
    layouts.clear();
    if (violations.length > 0 && process.env.SESSION_FUZZ_TRACE === '1') console.log(traceOf(seed, sent, stored, violations));
    return { violations, summary };
  }

  /** What each user involved in a violation sent and got, and the sessions stored (SESSION_FUZZ_TRACE=1). */
  function traceOf(seed: number, sent: Sent[], stored: Map<string, { tokens: string[]; n: number }>, violations: string[]): string {
    const short = (id: string | null | undefined) => (id ? id.slice(0, 6) : '-');
    const users = new Set(sent.filter((s) => violations.some((v) => v.includes(s.req))).map((s) => s.user));
    const lines = [`[fuzz] ${config.name} seed ${seed}: trace of users ${[...users].join(', ')}`];
    for (const s of sent.filter((x) => users.has(x.user)).sort((a, b) => a.sentSeq - b.sentSeq)) {
      const run = probe.runs.get(s.req);
      const arrival = probe.arrivals.get(s.req);
      lines.push(
        `  ${s.req} ${s.kind}@${'AB'[s.instance]} cookie=${short(s.cookieId)} sent=${s.sentSeq} arrived=${arrival?.seq ?? '-'}(behind ${arrival?.behind ?? '-'}) ` +
          `ran=${run ? `${short(run.loadedId)}${run.isNew ? '(new)' : ''}->${short(run.finalId)} ${run.entry}..${run.exit}` : 'no'} ` +
          `answer=${s.status ?? 'none'}@${s.answerSeq ?? '-'}${s.abortAfterMs !== undefined ? ` abort@${s.abortAfterMs}ms` : ''} set-cookie=${s.setCookie ? short(s.setCookie.slice(4)) || 'clear' : '-'}`,
      );
    }
    for (const [id, { tokens }] of stored)
      if (tokens.some((t) => [...users].some((u) => t.includes(`u${u}r`)))) lines.push(`  stored ${short(id)}: ${tokens.join(' ')}`);
    return lines.join('\n');
  }

  /**
   * Waits until all is quiet: no handler running, no lease, no store call in flight, no connection
   * left, and no store call made while the rest was checked (a request whose client aborted may
   * still be acquiring its session after the client saw its request end: it counts as busy until
   * its store call is answered, and its lease from then on). Reports what is still held.
   */
  async function checkQuiet(sessionIds: () => Set<string>, violations: string[]): Promise<void> {
    let problems: string[] = [];
    const connections = (i: Instance) =>
      new Promise<number>((resolve) => i.app.getHttpServer().getConnections((_: unknown, n: number) => resolve(n)));
    const busy = () => [
      ...(probe.running > 0 ? [`${probe.running} handlers still running`] : []),
      ...instances.flatMap((i, n) => [
        ...(i.lifecycle.activeLeases > 0 ? [`instance ${'AB'[n]}: ${i.lifecycle.activeLeases} active leases`] : []),
        ...(i.calls.inFlight() > 0 ? [`instance ${'AB'[n]}: ${i.calls.inFlight()} store calls in flight`] : []),
      ]),
    ];
    const callsMade = () => instances.reduce((sum, i) => sum + i.calls.total(), 0);
    try {
      await vi.waitFor(
        async () => {
          const before = callsMade();
          const ids = sessionIds();
          problems = busy();
          for (const [n, i] of instances.entries()) {
            const name = 'AB'[n];
            if ((await connections(i)) > 0) problems.push(`instance ${name}: connections still open`);
            if (i.lifecycle.locks.size > 0) problems.push(`instance ${name}: ${i.lifecycle.locks.size} entries left in the lock coordinator`);
            const waiting = [...ids].reduce((sum, id) => sum + i.lifecycle.locks.waiting(id), 0);
            if (waiting > 0) problems.push(`instance ${name}: ${waiting} requests waiting`);
          }
          for (const id of ids) if (await lockedAtStore(id)) problems.push(`session ${id} locked at the store`);
          if (callsMade() !== before || busy().length > 0) problems.push('store calls made while checking');
          expect(problems).toEqual([]);
        },
        { timeout: 10_000, interval: 50 },
      );
    } catch {
      violations.push(...problems.map((p) => `not quiet 10 s after the last answer: ${p}`));
    }
  }

  /** DynamoDB: each record's layout at the last look (the items inline in the lock item, or in a data item). */
  const layouts = new Map<string, 'inline' | 'data item'>();

  async function lockedAtStore(id: string): Promise<boolean> {
    if (!dynamodbReader) return (await reader.getItem(id)).kind === 'locked';
    // The record itself, expired or not (an abandoned session's record is an expired stub).
    const { Item } = await dynamodbReader.client.send(
      new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: id } }, ConsistentRead: true }),
    );
    if (Item?.Version?.N !== undefined) layouts.set(id, Item.Version.N === '1' ? 'inline' : 'data item');
    return Item?.Locked?.BOOL === true;
  }

  /** The stored sessions among `ids`, read afresh: id → its tokens. */
  async function readFinalState(ids: Set<string>): Promise<Map<string, { tokens: string[]; n: number }>> {
    const stored = new Map<string, { tokens: string[]; n: number }>();
    for (const id of ids) {
      const read = await reader.getItem(id);
      if (read.kind !== 'loaded') continue;
      const { item } = read;
      const items = JSON.parse(item.items) as { tokens?: string[]; n?: number };
      stored.set(id, { tokens: items.tokens ?? [], n: items.n ?? 0 });
    }
    return stored;
  }

  function checkAnswers(sent: Sent[], violations: string[]): void {
    for (const s of sent) {
      if (s.status === 409 && s.setCookie !== undefined) violations.push(`request ${s.req} (${s.kind}): a 409 with a Set-Cookie`);
      if (s.outcome === 'ack' && !probe.runs.has(s.req)) violations.push(`request ${s.req} (${s.kind}): ${s.status} although its handler never ran`);
      if (s.kind === 'throw' && s.outcome === 'ack') violations.push(`request ${s.req} (throw): answered ${s.status}`);
      if (s.refuse && s.outcome === 'ack') violations.push(`request ${s.req} (guard refusing): answered ${s.status}`);
    }
  }

  /** A read-only handler sees a consistent session, no discarded write, and every write acknowledged before it was sent. */
  function checkReads(sent: Sent[], violations: string[]): void {
    const discarded = new Set(sent.filter((s) => WRITING.has(s.kind) && isDiscarded(s)).map((s) => s.req));
    for (const s of sent) {
      const run = probe.runs.get(s.req);
      if (s.kind !== 'read' || !run?.read) continue;
      const { tokens, n } = run.read;
      if (n !== tokens.length) violations.push(`read ${s.req}: count ${n} but ${tokens.length} tokens`);
      for (const t of tokens) if (discarded.has(t)) violations.push(`read ${s.req}: sees the discarded write ${t}`);
      if (run.isNew) continue;
      for (const w of sent) {
        const wrun = probe.runs.get(w.req);
        if (!WRITING.has(w.kind) || w.outcome !== 'ack' || w.answerSeq! > s.sentSeq || wrun?.finalId !== run.loadedId) continue;
        if (!tokens.includes(w.req)) violations.push(`read ${s.req}: misses the write ${w.req} acknowledged before it was sent`);
      }
    }
  }

  /** A write whose changes are certainly not saved: refused (non-2xx), thrown, or refused by its guard. */
  function isDiscarded(s: Sent): boolean {
    return s.outcome === 'refused' || s.kind === 'throw' || s.refuse;
  }

  /**
   * Where the data of session `id` is now: the stored session its logins led to, 'ended' when a
   * logout ended it, 'missing' when it is nowhere (lost).
   */
  function whereIs(id: string, stored: Map<string, unknown>, seen = new Set<string>()): string /* an id, 'ended' or 'missing' */ {
    if (stored.has(id)) return id;
    if (seen.has(id)) return 'missing';
    seen.add(id);
    const runs = [...probe.runs.values()];
    let ended = false;
    for (const r of runs) {
      if (r.loadedId !== id) continue;
      if (r.kind === 'login' && r.finalId !== id) {
        const there = whereIs(r.finalId, stored, seen);
        if (there !== 'missing' && there !== 'ended') return there;
        if (there === 'ended') ended = true;
      }
      if (r.kind === 'logout') ended = true;
    }
    return ended ? 'ended' : 'missing';
  }

  function checkWrites(sent: Sent[], stored: Map<string, { tokens: string[]; n: number }>, violations: string[]): void {
    const places = new Map<string, string[]>();
    for (const [id, { tokens, n }] of stored) {
      if (n !== tokens.length) violations.push(`session ${id}: count ${n} but ${tokens.length} tokens (an update lost or doubled)`);
      for (const t of tokens) places.set(t, [...(places.get(t) ?? []), id]);
    }
    const bySent = new Map(sent.map((s) => [s.req, s]));
    for (const [token, where] of places) {
      const s = bySent.get(token);
      if (!s || !probe.runs.has(token)) violations.push(`token ${token} stored but no handler wrote it`);
      if (where.length > 1) violations.push(`write ${token} (${s?.kind}, ${s?.outcome}) stored ${where.length} times`);
    }
    for (const s of sent) {
      if (!WRITING.has(s.kind)) continue;
      const run: HandlerRun | undefined = probe.runs.get(s.req);
      const where = places.get(s.req) ?? [];
      if (isDiscarded(s) || !run) {
        if (where.length > 0) violations.push(`write ${s.req} (${s.kind}, ${s.status ?? 'unanswered'}) discarded but stored`);
        continue;
      }
      const expected = whereIs(run.finalId, stored);
      if (s.outcome === 'ack') {
        if (expected === 'missing') violations.push(`acknowledged write ${s.req} (${s.kind}) lost: its session is nowhere`);
        else if (expected !== 'ended' && !where.includes(expected))
          violations.push(`acknowledged write ${s.req} (${s.kind}) missing from its session`);
      }
      if (expected === 'ended' && where.length > 0) violations.push(`write ${s.req} (${s.kind}) survives the logout of its session`);
      if (expected !== 'ended' && expected !== 'missing' && where.length > 0 && !where.includes(expected)) {
        violations.push(`write ${s.req} (${s.kind}, ${s.outcome}) stored in another session than its own`);
      }
    }
  }

  function checkLogins(sent: Sent[], stored: Map<string, unknown>, violations: string[]): void {
    const runs = [...probe.runs.values()];
    // After a login, the old id is gone.
    for (const r of runs) {
      if (r.kind === 'login' && r.finalId !== r.loadedId && stored.has(r.finalId) && stored.has(r.loadedId)) {
        violations.push(`login ${r.req}: the session lives under both its old and its new id`);
      }
    }
    // A request queued behind others of its instance (they were waiting for the session when it
    // arrived) while a login or logout moved or ended the session (its handler returned after the
    // request arrived, on any instance) waited for the session: it answers 409, never runs in a new session.
    const bySent = new Map(sent.map((s) => [s.req, s]));
    for (const s of sent) {
      const run = probe.runs.get(s.req);
      const arrival = probe.arrivals.get(s.req);
      if (!run || !s.cookieId || run.loadedId === s.cookieId || !arrival || arrival.behind === 0) continue;
      const end = runs.find((r) => (r.kind === 'login' || r.kind === 'logout') && !r.isNew && r.loadedId === s.cookieId && r.exit > arrival.seq);
      if (!end) continue;
      // Unless a request ahead of it found the session unknown without waiting (it then ran in a
      // new session itself, and so may this one).
      const aheadStartedNew = sent.some((o) => {
        const oRun = probe.runs.get(o.req);
        const oArrival = probe.arrivals.get(o.req);
        return (
          o.cookieId === s.cookieId && o.instance === s.instance && oRun && oRun.loadedId !== s.cookieId && oArrival && oArrival.seq < arrival.seq
        );
      });
      if (aheadStartedNew) continue;
      // The others that came with that cookie, for the diagnosis (e.g. only the first of a queue answering 409).
      const others = sent
        .filter((o) => o !== s && o.cookieId === s.cookieId && o !== bySent.get(end.req))
        .map((o) => `${o.req} ${o.kind}@${'AB'[o.instance]} ${o.status ?? 'unanswered'}${probe.runs.get(o.req)?.isNew ? ' new session' : ''}`);
      violations.push(
        `request ${s.req} (${s.kind} on instance ${run.instance}, answered ${s.status ?? 'nothing'}) queued behind ${arrival.behind} ` +
          `request(s) of its instance while ${end.kind} ${end.req} (instance ${end.instance}) ended its session, yet ran in a new session ` +
          `(others with that cookie: ${others.join(', ') || 'none'})`,
      );
    }
  }
});
