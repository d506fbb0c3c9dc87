/**
 * A seeded randomized run of the lock and the lifecycle under what the session fuzz
 * (test/e2e/session-fuzz.e2e.spec.ts) does not do: locks going stale under running handlers (a
 * short `executionTimeout`), and store calls failing (a wrapper store that throws at its boundary,
 * before the call reaches the store, with random delays on every call). Concurrent real HTTP
 * requests of every kind (write, guard-loaded, throwing, Observable, read), some aborted at a random
 * moment; Express and Fastify; the interceptor and the guard binding; mode `login` adds logins
 * (`regenerateId()`) to stale locks and faults. Invariants after each run:
 * - every write answered 2xx is in its session once; no refused, thrown or guard-refused write is;
 *   a session's count equals its tokens (no lost or doubled update);
 * - no 2xx for a request whose handler never ran, no 409 with a Set-Cookie;
 * - without stale locks: never two writers of one session at once (guard binding: unless the
 *   first one's client left);
 * - quiet: no active lease, no coordinator entry, no open connection, no lock at the store except one
 *   whose release the wrapper failed (a store outage leaves it until it is stale);
 * - the browser's view: the session the user's last cookie names holds every write acknowledged to it
 *   (none forked off by a stale login; review R21);
 * - no 5xx but a 503 (with Retry-After where no store call failed) and the throwing handler's 500; no
 *   session id in any log line.
 * Redis and DynamoDB Local too: two instances, each with its own store object (as two processes), stale
 * locks and logins, no injected faults (the stores' own faults have their own tests).
 * CHAOS_SEED=<first> CHAOS_RUNS=<n> npx vitest run test/e2e/lock-chaos.e2e.spec.ts
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger, type INestApplication, type LoggerService } from '@nestjs/common';
import { SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, createTestApp, sessionSetCookie, type AdapterName } from '../support/test-app.js';
import { FuzzModule, FuzzProbe, type FuzzKind } from '../e2e/fixtures/session-fuzz.app.js';
import { prng } from '../support/prng.js';

const FIRST_SEED = Number(process.env.CHAOS_SEED ?? 7700);
const RUNS = Number(process.env.CHAOS_RUNS ?? 3);
const USERS = 3;
const REQUESTS = 14;

/** Every line any logger writes during the runs (Nest's and the module's): no session id may be in one. */
const logged: string[] = [];
const text = (a: unknown): string =>
  a instanceof Error ? `${a.message} ${a.stack ?? ''} ${text(a.cause ?? '')}` : typeof a === 'string' ? a : (JSON.stringify(a) ?? '');
const capture = (...args: unknown[]) => logged.push(args.map(text).join(' '));
const capturingLogger: LoggerService = { log: capture, error: capture, warn: capture, debug: capture, verbose: capture, fatal: capture };

/** `two`: stale locks and faults, on two app instances sharing the store (polling, breaking another process's lock). */
type Mode = 'stale' | 'faults' | 'both' | 'two' | 'login';
const WRITING = new Set<FuzzKind>(['write', 'guarded', 'throw', 'observable', 'login']);
const KINDS: [FuzzKind, number][] = [
  ['write', 40],
  ['read', 20],
  ['guarded', 15],
  ['observable', 15],
  ['throw', 10],
];
const ROUTES: Partial<Record<FuzzKind, [string, string]>> = {
  write: ['POST', 'write'],
  guarded: ['POST', 'guarded'],
  throw: ['POST', 'throw'],
  observable: ['POST', 'observable'],
  read: ['GET', 'read'],
  login: ['POST', 'login'],
};

/** Methods whose failure may leave the caller's lock at the store (the lock id is argument `at`). */
const LOCK_ENDING: Record<string, number> = { setAndReleaseItemExclusive: 2, handOverItemExclusive: 2, releaseItemExclusive: 1, removeItem: 1 };
const FAULTABLE = new Set(['getItem', 'probeLock', 'getItemExclusive', 'resetItemTimeout', ...Object.keys(LOCK_ENDING)]);

interface Faults {
  rate: number;
  random: () => number;
  /** `id lockId` of lock-ending calls that were failed (their lock may stay until stale). */
  left: Set<string>;
  /** `id lockId` of a login's removal of its old id that failed before landing (an uncertain move may follow). */
  movedRemovalFailed: Set<string>;
  /** Old ids whose removal by a login (`moved`) landed at the store, answered or not. */
  movedRemovalLanded: Set<string>;
  injected: number;
}

/** The store behind a boundary that delays every call a little and fails some before they reach it. */
function faultyStore(inner: SessionStateStore, faults: Faults): SessionStateStore {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !FAULTABLE.has(property) || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const pause = faults.random();
        if (pause < 0.3) await new Promise((r) => setTimeout(r, Math.floor(pause * 10)));
        else if (pause < 0.6) await new Promise((r) => setImmediate(r));
        if (faults.random() < faults.rate) {
          faults.injected++;
          const at = LOCK_ENDING[property];
          // A write that ends a lock may also land and lose its answer (not a hand-over: its store must settle that itself).
          if (at !== undefined && property !== 'handOverItemExclusive' && faults.random() < 0.5) {
            await value.apply(target, args);
            if (movedRemoval(property, args)) faults.movedRemovalLanded.add(String(args[0]));
          } else if (at !== undefined) {
            const key = `${String(args[0])} ${String(args[at])}`;
            faults.left.add(key);
            if (property === 'removeItem' && (args[2] as { moved?: boolean } | undefined)?.moved) faults.movedRemovalFailed.add(key);
          }
          throw new SessionStateStoreUnavailableError(`injected failure of ${property}`);
        }
        const answer: unknown = await value.apply(target, args);
        if (movedRemoval(property, args)) faults.movedRemovalLanded.add(String(args[0]));
        return answer;
      };
    },
  });
}

const movedRemoval = (property: string, args: unknown[]) => property === 'removeItem' && (args[2] as { moved?: boolean } | undefined)?.moved === true;

interface Planned {
  req: string;
  instance: number;
  kind: FuzzKind;
  delayMs: number;
  refuse: boolean;
  abortAfterMs?: number;
}
interface Sent extends Planned {
  user: number;
  cookieId?: string;
  outcome: 'ack' | 'refused' | 'unknown';
  status?: number;
  retryAfter?: string;
  setCookie?: string;
}

function plan(random: () => number, tag: string, { mode, instances, scale }: Config): Planned[][][] {
  const kinds: [FuzzKind, number][] = mode === 'login' ? [...KINDS, ['login', 12]] : KINDS;
  const kind = (): FuzzKind => {
    let dice = random() * kinds.reduce((sum, [, w]) => sum + w, 0);
    for (const [k, w] of kinds) if ((dice -= w) < 0) return k;
    return 'write';
  };
  return Array.from({ length: USERS }, (_, u) => {
    const bursts: Planned[][] = [];
    let n = 0;
    const next = (k: FuzzKind, abortable: boolean): Planned => ({
      req: `${tag}u${u}r${n++}`,
      instance: Math.floor(random() * instances),
      kind: k,
      // Stale mode: handlers often outlive executionTimeout (30 ms); fault mode: never (300 ms).
      delayMs: mode === 'faults' ? Math.floor(random() * 10) : Math.floor(random() * 70 * scale),
      refuse: k === 'guarded' && random() < 0.2,
      abortAfterMs: abortable && random() < 0.25 ? Math.floor(random() * 40 * scale) : undefined,
    });
    bursts.push([next('write', false)]);
    while (n < REQUESTS) bursts.push(Array.from({ length: Math.min(REQUESTS - n, 1 + Math.floor(random() * 5)) }, () => next(kind(), true)));
    return bursts;
  });
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

type StoreName = 'memory' | 'redis' | 'dynamodb';
interface Config {
  store: StoreName;
  mode: Mode;
  adapter: AdapterName;
  binding: 'interceptor' | 'guard';
  instances: number;
  /** Time's scale: DynamoDB Local's calls take milliseconds, its stale locks and pauses longer. */
  scale: number;
  runs: number;
}
const STORE_MODES: [StoreName, Mode[]][] = [
  ['memory', ['stale', 'faults', 'both', 'two', 'login']],
  ['redis', ['two', 'login']],
  ['dynamodb', ['login']],
];
const CONFIGS: Config[] = STORE_MODES.flatMap(([store, modes]) =>
  modes.flatMap((mode) =>
    ADAPTERS.flatMap((adapter: AdapterName) =>
      (['interceptor', 'guard'] as const).map((binding) => ({
        store,
        mode,
        adapter,
        binding,
        instances: store !== 'memory' || mode === 'two' ? 2 : 1,
        scale: store === 'dynamodb' ? 4 : 1,
        runs: store === 'dynamodb' ? 1 : RUNS,
      })),
    ),
  ),
);

let redis: RedisServer | undefined;
const tableName = uniqueTableName('lock-chaos');
afterAll(async () => {
  await redis?.stop();
  if (CONFIGS.some((c) => c.store === 'dynamodb')) await deleteTable(tableName);
});
/** A store object of `name` (one per instance: two processes share the server, not the object). */
async function storeOf(name: Exclude<StoreName, 'memory'>): Promise<SessionStateStore> {
  if (name === 'redis') return new RedisSessionStateStore({ url: (redis ??= await startRedisServer()).url });
  return new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() });
}

describe.each(CONFIGS.map((c, i) => [`${c.store} ${c.mode} ${c.adapter} ${c.binding}`, c, i] as const))('lock chaos: %s', (_name, config, index) => {
  const probe = new FuzzProbe();
  /** What the test reads the sessions through (in memory: the store the instances share). */
  let reader: SessionStateStore = new InMemorySessionStateStore();
  const closing: SessionStateStore[] = [];
  const faults: Faults = {
    rate: config.mode === 'stale' || config.store !== 'memory' ? 0 : 0.06,
    random: Math.random,
    left: new Set(),
    movedRemovalFailed: new Set(),
    movedRemovalLanded: new Set(),
    injected: 0,
  };
  const apps: INestApplication[] = [];
  const ports: number[] = [];
  const lifecycles: SessionStateLifecycle[] = [];

  beforeAll(async () => {
    if (config.store !== 'memory') {
      reader = await storeOf(config.store);
      await reader.init?.();
      closing.push(reader);
    }
    for (let i = 0; i < config.instances; i++) {
      const store = config.store === 'memory' ? reader : await storeOf(config.store);
      const app = await createTestApp(config.adapter, {
        imports: [
          SessionStateModule.forRoot({
            store: faultyStore(store, faults),
            executionTimeout: config.mode === 'faults' ? 0.3 : 0.03 * config.scale,
          }),
          FuzzModule.with(probe, 'AB'[i], config.binding),
        ],
      });
      await app.listen(0, '127.0.0.1');
      apps.push(app);
      ports.push((app.getHttpServer().address() as AddressInfo).port);
      lifecycles.push(app.get(SessionStateLifecycle));
    }
    Logger.overrideLogger(capturingLogger); // after the apps: their `logger: false` set it
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    for (const store of closing) await store.close?.();
  });

  const seeds = Array.from({ length: config.runs }, (_, k) => FIRST_SEED + k);
  it(`keeps every invariant, seeds ${seeds[0]}..${seeds.at(-1)}`, { timeout: 30_000 + config.runs * config.scale * 20_000 }, async () => {
    const failed: string[] = [];
    for (const seed of seeds) failed.push(...(await runOnce(seed)).map((v) => `seed ${seed}: ${v}`));
    expect(failed).toEqual([]);
  });

  async function runOnce(seed: number): Promise<string[]> {
    probe.reset();
    faults.left.clear();
    faults.movedRemovalLanded.clear();
    const random = prng((seed * 31 + index) | 0);
    faults.random = prng((seed * 17 + index) | 0); // drawn in the order calls happen: not replayable exactly
    const sent: Sent[] = [];
    /** Each user's cookie at the end: the session the browser is left with. */
    const finalCookie = new Map<number, string | undefined>();
    await Promise.all(
      plan(random, `s${seed}c${index}`, config).map(async (bursts, user) => {
        let cookie: string | undefined;
        for (const burst of bursts) {
          await Promise.all(
            burst.map(async (p) => {
              const [method, route] = ROUTES[p.kind]!;
              const query = new URLSearchParams({ r: p.req, d: String(p.delayMs) });
              if (p.refuse) query.set('refuse', '1');
              const headers: Record<string, string> = { 'x-fuzz-req': p.req };
              if (cookie !== undefined) headers.cookie = `sid=${cookie}`;
              const s: Sent = { ...p, user, cookieId: cookie, outcome: 'unknown' };
              sent.push(s);
              const answer = await send(ports[p.instance], method, `/fuzz/${route}?${query}`, headers, p.abortAfterMs);
              if (answer.status === undefined) return;
              s.status = answer.status;
              s.retryAfter = answer.headers?.['retry-after'] as string | undefined;
              s.outcome = answer.status < 300 ? 'ack' : answer.status === 503 ? 'unknown' : 'refused';
              s.setCookie = sessionSetCookie(answer.headers as Record<string, unknown>);
              if (s.setCookie !== undefined) cookie = s.setCookie.split(';')[0].slice('sid='.length) || undefined;
            }),
          );
        }
        finalCookie.set(user, cookie);
      }),
    );
    const violations: string[] = [...probe.violations];
    const ids = () => new Set([...probe.runs.values()].flatMap((r) => [r.loadedId, r.finalId]));
    for (const id of ids()) {
      const line = logged.find((l) => l.includes(id));
      if (line) violations.push(`a session id in a log line: ${line.slice(0, 200)}`);
    }
    // Quiet: every handler ended, every lease completed, nothing queued, no lock left (but an excused one).
    let problems: string[] = [];
    try {
      await vi.waitFor(
        async () => {
          problems = [];
          if (probe.running > 0) problems.push(`${probe.running} handlers running`);
          for (const [i, app] of apps.entries()) {
            const lifecycle = lifecycles[i];
            const connections = await new Promise<number>((r) => app.getHttpServer().getConnections((_: unknown, n: number) => r(n)));
            if (lifecycle.activeLeases > 0) problems.push(`${'AB'[i]}: ${lifecycle.activeLeases} active leases`);
            if (lifecycle.locks.size > 0) problems.push(`${'AB'[i]}: ${lifecycle.locks.size} coordinator entries`);
            if (connections > 0) problems.push(`${'AB'[i]}: ${connections} connections open`);
          }
          for (const id of ids()) {
            const read = await reader.getItem(id);
            if (read.kind === 'locked' && !faults.left.has(`${id} ${read.lockId}`)) problems.push(`session ${id.slice(0, 6)} locked at the store`);
          }
          expect(problems).toEqual([]);
        },
        { timeout: 5_000 * config.scale, interval: 50 },
      );
    } catch {
      violations.push(...problems.map((p) => `not quiet: ${p}`));
    }
    const clientLeft = (req: string) => sent.some((s) => s.req === req && s.outcome === 'unknown');
    if (config.mode === 'faults') {
      for (const o of probe.overlaps) if (!(config.binding === 'guard' && clientLeft(o.running))) violations.push(o.message);
    }
    // The data.
    const stored = new Map<string, string[]>();
    for (const id of ids()) {
      const read = await reader.getItem(id);
      if (read.kind === 'absent') continue;
      if (read.kind === 'locked') continue; // excused above; its data is not readable without the lock
      const items = JSON.parse(read.item.items) as { tokens?: string[]; n?: number };
      const tokens = items.tokens ?? [];
      if ((items.n ?? 0) !== tokens.length) violations.push(`session ${id.slice(0, 6)}: count ${items.n} but ${tokens.length} tokens`);
      if (new Set(tokens).size !== tokens.length) violations.push(`session ${id.slice(0, 6)}: a token twice`);
      stored.set(id, tokens);
    }
    // A failed login (409 or 503, no Set-Cookie) undoes its move, but a store failing at that moment can
    // fail the undo too: its copy stays under an id no answer named (unreachable, it expires). Tolerated
    // only then, and such a copy is no one's session below. A login whose client left before its answer
    // (no status) failed the same way when its removal of the old id never landed (the wrapper saw none):
    // its copy's write was answered by a fault after it landed, or its undo failed. Its answer, had the
    // client waited, named no copy: a login answers its cookie only after the old id's removal.
    const left = (x: Sent) => x.status === undefined && !faults.movedRemovalLanded.has(probe.runs.get(x.req)?.loadedId ?? '');
    const orphans = new Set(
      sent
        .filter((x) => x.kind === 'login' && (x.status === 409 || x.status === 503 || left(x)) && x.setCookie === undefined && faults.injected > 0)
        .map((x) => probe.runs.get(x.req)?.finalId)
        .filter((id): id is string => id !== undefined && !sent.some((y) => y.setCookie?.includes(id))),
    );
    for (const id of orphans) stored.delete(id);
    // A login (`regenerateId()`) leaves its session under its new id only, unless its removal of the old
    // id got no answer and the release that settles it (or, that refused, the read after it) got none
    // either: an uncertain move, logged. The failed read is not traced here, so any unanswered removal
    // of the old id excuses it; a login fenced by a lost lock (no fault) is still checked.
    const uncertain = (oldId: string) => [...faults.movedRemovalFailed].some((key) => key.startsWith(`${oldId} `));
    for (const r of probe.runs.values())
      if (r.kind === 'login' && r.finalId !== r.loadedId && stored.has(r.finalId) && stored.has(r.loadedId) && !uncertain(r.loadedId))
        violations.push(
          `login ${r.req}: the session lives under both its old id (${stored.get(r.loadedId)!.length} tokens) and its new one (${stored.get(r.finalId)!.length})`,
        );
    /** Where session `id`'s data may be now: itself if stored, else where the logins that moved it led (each of them). */
    const whereIs = (id: string, seen = new Set<string>()): string[] => {
      if (stored.has(id)) return [id];
      if (seen.has(id)) return [];
      seen.add(id);
      return [...probe.runs.values()]
        .filter((r) => r.kind === 'login' && r.loadedId === id && r.finalId !== id)
        .flatMap((r) => whereIs(r.finalId, seen));
    };
    const where = (token: string) => [...stored].filter(([, tokens]) => tokens.includes(token)).map(([id]) => id);
    for (const s of sent) {
      const run = probe.runs.get(s.req);
      if (s.status === 409 && s.setCookie !== undefined) violations.push(`${s.req}: a 409 with a Set-Cookie`);
      // Only the documented 5xx: a 503 (with Retry-After unless the store failed: a full queue's), and a
      // 500 only from the handler that throws.
      const documented = s.status === 503 ? s.retryAfter !== undefined || faults.rate > 0 : s.kind === 'throw' && s.status === 500;
      if (s.status !== undefined && s.status >= 500 && !documented) violations.push(`${s.req} (${s.kind}): ${s.status}`);
      if (s.outcome === 'ack' && !run) violations.push(`${s.req} (${s.kind}): ${s.status} but its handler never ran`);
      if (!WRITING.has(s.kind)) continue;
      const places = where(s.req);
      const discarded = s.outcome === 'refused' || s.kind === 'throw' || s.refuse;
      if (discarded && places.length > 0) violations.push(`${s.req} (${s.kind}, ${s.status}) discarded but stored`);
      const homes = run ? whereIs(run.finalId) : [];
      if (s.outcome === 'ack' && run && !discarded && homes.length > 0 && !homes.some((home) => places.includes(home)))
        violations.push(`${s.req} (${s.kind}) answered ${s.status} but its write is missing from its session (a lost update)`);
      if (s.outcome === 'ack' && run && homes.length === 0 && !faults.left.size)
        violations.push(`${s.req} (${s.kind}) answered ${s.status} but its session is not stored`);
    }
    // The browser's view: the session its last cookie names holds every write acknowledged to that user
    // on a session it had (requests sent without a cookie each start a session of their own, and the
    // browser keeps the last one's cookie, as with any session library).
    for (const [user, id] of finalCookie) {
      const tokens = id === undefined ? undefined : stored.get(id);
      if (!tokens) continue;
      for (const s of sent)
        if (
          s.user === user &&
          s.cookieId !== undefined &&
          s.outcome === 'ack' &&
          WRITING.has(s.kind) &&
          s.kind !== 'throw' &&
          !s.refuse &&
          !tokens.includes(s.req)
        )
          violations.push(`${s.req} (${s.kind}) answered ${s.status}, but the session the user's last cookie names (${id!.slice(0, 6)}) lacks it`);
    }
    if (violations.length > 0 && process.env.CHAOS_TRACE === '1') {
      const short = (id?: string) => (id ? id.slice(0, 6) : '-');
      const users = new Set(sent.filter((x) => violations.some((v) => v.includes(x.req))).map((x) => x.user));
      for (const x of sent.filter((y) => users.has(y.user))) {
        const r = probe.runs.get(x.req);
        console.log(
          `  ${x.req} ${x.kind}@${x.instance} d=${x.delayMs} cookie=${short(x.cookieId)} ran=${r ? `${short(r.loadedId)}->${short(r.finalId)} ${r.entry}..${r.exit}` : 'no'} ` +
            `status=${x.status ?? 'none'} set=${x.setCookie ? short(x.setCookie.slice(4)) || 'clear' : '-'}${x.abortAfterMs !== undefined ? ` abort@${x.abortAfterMs}` : ''}`,
        );
      }
      for (const [id, tokens] of stored) console.log(`  stored ${short(id)}: ${tokens.join(' ')}`);
    }
    if (process.env.CHAOS_VERBOSE === '1') {
      const count = (o: Sent['outcome']) => sent.filter((s) => s.outcome === o).length;
      const statuses = sent.map((s) => s.status ?? 0).reduce<Record<number, number>>((m, st) => ((m[st] = (m[st] ?? 0) + 1), m), {});
      console.log(
        `[r7] ${_name} seed ${seed}: ${count('ack')} ack, ${count('refused')} refused, ${count('unknown')} unknown; ${JSON.stringify(statuses)}; ${faults.injected} faults; ${violations.length} violations`,
      );
    }
    return violations;
  }
});
