import { Logger } from '@nestjs/common';
import { SessionCookie } from '../../src/cookie/session-cookie.js';
import type { SessionExchange } from '../../src/core/session-exchange.js';
import { SessionStateBehavior, type ActiveBehavior } from '../../src/core/session-state-behavior.enum.js';
import { SessionStateLifecycle, type RequestOutcome } from '../../src/core/session-state.lifecycle.js';
import { resolveSessionStateOptions, type SessionStateModuleOptions } from '../../src/module/session-state.options.js';
import { SessionStateMetrics } from '../../src/observability/session-state-metrics.js';
import { SessionStateObserver } from '../../src/observability/session-state-observer.js';
import type { HttpSessionState } from '../../src/session/http-session-state.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { flat } from '../../src/testing/flat-store-answer.js';

/**
 * The lifecycle executing its completion plans (see completion-plan.spec.ts for the decisions):
 * the store calls and the Set-Cookie of each branch, with the in-memory store and an exchange that
 * can say its answer already left. No application is started.
 */
const ID = 'a'.repeat(32);
const SECRET = 'the current secret, 16+ chars';
const OLD_SECRET = 'the previous secret, 16+ chars';

/** An HTTP-like exchange: its Set-Cookie headers, and `send()` for an answer that leaves before the session is saved. */
function exchangeOf(cookie?: string) {
  let sent = false;
  const setCookies: string[] = [];
  const exchange: SessionExchange & { send(): void; setCookies: string[] } = {
    key: {},
    transport: 'http',
    cookieHeader: () => cookie,
    isHttps: () => false,
    canSetCookie: () => !sent,
    appendSetCookie: (value) => setCookies.push(value),
    setHeader: () => {},
    onClientGone: () => () => {},
    onAnswered: () => {},
    send: () => (sent = true),
    setCookies,
  };
  return exchange;
}

interface Run {
  store: InMemorySessionStateStore;
  counter: StoreCallCounter;
  setCookies: string[];
  logs: string[];
  session: HttpSessionState;
  /** What the completion threw, if anything. */
  error?: unknown;
}

let logs: string[];
const stores: InMemorySessionStateStore[] = [];
beforeEach(() => {
  logs = [];
  for (const level of ['warn', 'error'] as const) {
    vi.spyOn(Logger.prototype, level).mockImplementation((message: unknown) => void logs.push(`${level}: ${String(message)}`));
  }
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  for (const store of stores.splice(0)) store.close();
});

/** One request: the session `stored` (if any) is loaded, `handle` runs, the lease is completed with `outcome`. */
async function request(options: {
  stored?: Record<string, unknown>;
  cookie?: string | null;
  behavior?: ActiveBehavior;
  outcome?: RequestOutcome;
  module?: SessionStateModuleOptions;
  handle?: (session: HttpSessionState, exchange: ReturnType<typeof exchangeOf>) => void;
  /** Minutes between the stored session's last write and this request. */
  elapsedMinutes?: number;
  /** The completion may throw (else its error fails the test). */
  mayFail?: boolean;
}): Promise<Run> {
  const memory = new InMemorySessionStateStore();
  stores.push(memory);
  if (options.stored) await memory.setAndReleaseItemExclusive(ID, { items: JSON.stringify(options.stored), timeout: 20 }, null, true);
  if (options.elapsedMinutes) vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + options.elapsedMinutes * 60_000 });
  const { store, counter } = countingStore(memory);
  const resolved = resolveSessionStateOptions({ store, secret: SECRET, ...options.module });
  const lifecycle = new SessionStateLifecycle(resolved, store, new SessionStateObserver(await SessionStateMetrics.create()));
  const cookie = options.cookie === undefined ? `sid=${new SessionCookie(resolved).value(ID)}` : (options.cookie ?? undefined);
  const exchange = exchangeOf(cookie);
  const lease = await lifecycle.acquire(exchange, options.behavior ?? SessionStateBehavior.Required, 'interceptor');
  counter.reset();
  options.handle?.(lease.session, exchange);
  const error = await lifecycle.complete(lease, exchange, options.outcome ?? 'succeeded').then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error !== undefined && !options.mayFail) throw error;
  return { store: memory, counter, setCookies: exchange.setCookies, logs, session: lease.session, error };
}

const itemsOf = async (store: InMemorySessionStateStore, id: string) => flat(await store.getItem(id)).item?.items;
const names = (cookie: string | undefined, id: string) => cookie?.startsWith(`sid=${id}.`) ?? false;

describe('the lifecycle executes the completion plan', () => {
  it('new and still empty: no store call, no cookie', async () => {
    const run = await request({ cookie: null });
    expect(run.counter.sequence).toEqual([]);
    expect(run.setCookies).toEqual([]);
  });

  it('new with items: created under a new id, named by its cookie', async () => {
    const run = await request({ cookie: null, handle: (s) => s.set('n', 1) });
    expect(run.counter.sequence).toEqual(['setAndReleaseItemExclusive']);
    expect(run.setCookies).toHaveLength(1);
    expect(names(run.setCookies[0], run.session.id)).toBe(true);
    expect(await itemsOf(run.store, run.session.id)).toBe('{"n":1}');
  });

  it('new with items, the answer already left: nothing stored, a warning', async () => {
    const run = await request({ cookie: null, handle: (s, exchange) => (s.set('n', 1), exchange.send()) });
    expect(run.counter.sequence).toEqual([]);
    expect(run.setCookies).toEqual([]);
    expect(run.logs).toEqual([expect.stringMatching(/^warn: The session cookie could not be set: .*The new session was not stored\.$/)]);
  });

  it('stored, unchanged: released, no cookie', async () => {
    const run = await request({ stored: { n: 1 }, handle: (s) => s.get('n') });
    expect(run.counter.sequence).toEqual(['releaseItemExclusive']);
    expect(run.setCookies).toEqual([]);
  });

  it('stored, unchanged, a persistent cookie: released, then the cookie renewed', async () => {
    const run = await request({ stored: { n: 1 }, module: { cookie: { maxAge: 60_000 } } });
    expect(run.counter.sequence).toEqual(['releaseItemExclusive']);
    expect(run.setCookies).toEqual([expect.stringMatching(/^sid=a{32}\..*Max-Age=60/)]);
  });

  it('stored, signed with an older secret: signed again with the current one', async () => {
    const unused = new InMemorySessionStateStore();
    stores.push(unused);
    const old = new SessionCookie(resolveSessionStateOptions({ store: unused, secret: OLD_SECRET })).value(ID);
    const run = await request({ stored: { n: 1 }, cookie: `sid=${old}`, module: { secret: [SECRET, OLD_SECRET] } });
    expect(run.counter.sequence).toEqual(['releaseItemExclusive']);
    expect(run.setCookies).toHaveLength(1);
    expect(names(run.setCookies[0], ID)).toBe(true);
    expect(run.setCookies[0]).not.toContain(old);
  });

  it('stored, changed: saved, no cookie (browser-session cookie)', async () => {
    const run = await request({ stored: { n: 1 }, handle: (s) => s.set('n', 2) });
    expect(run.counter.sequence).toEqual(['setAndReleaseItemExclusive']);
    expect(run.setCookies).toEqual([]);
    expect(await itemsOf(run.store, ID)).toBe('{"n":2}');
  });

  it('failed: the changes discarded, the lock released, no cookie', async () => {
    const run = await request({ stored: { n: 1 }, outcome: 'failed', module: { cookie: { maxAge: 60_000 } }, handle: (s) => s.set('n', 2) });
    expect(run.counter.sequence).toEqual(['releaseItemExclusive']);
    expect(run.setCookies).toEqual([]);
    expect(await itemsOf(run.store, ID)).toBe('{"n":1}');
  });

  it('abandoned: removed, the cookie cleared', async () => {
    const run = await request({ stored: { n: 1 }, handle: (s) => s.abandon() });
    expect(run.counter.sequence).toEqual(['removeItem']);
    expect(run.setCookies).toEqual([expect.stringMatching(/^sid=;.*Expires=Thu, 01 Jan 1970/)]);
    expect(await itemsOf(run.store, ID)).toBeUndefined();
  });

  it('abandoned without a session cookie: nothing to remove, no cookie to clear', async () => {
    const run = await request({ cookie: null, handle: (s) => (s.set('n', 1), s.abandon()) });
    expect(run.counter.sequence).toEqual([]);
    expect(run.setCookies).toEqual([]);
  });

  it('regenerateId(): the data moves to the new id, the old record goes, the new cookie follows', async () => {
    const run = await request({ stored: { n: 1 }, handle: (s) => s.regenerateId() });
    expect(run.counter.sequence).toEqual(['setAndReleaseItemExclusive', 'removeItem']);
    expect(run.session.id).not.toBe(ID);
    expect(await itemsOf(run.store, run.session.id)).toBe('{"n":1}');
    expect(await itemsOf(run.store, ID)).toBeUndefined();
    expect(run.setCookies).toHaveLength(1);
    expect(names(run.setCookies[0], run.session.id)).toBe(true);
  });

  it('regenerateId(), the answer already left: kept (and saved) under the id the client has, an error', async () => {
    const run = await request({ stored: { n: 1 }, handle: (s, exchange) => (s.set('n', 2), s.regenerateId(), exchange.send()) });
    expect(run.counter.sequence).toEqual(['setAndReleaseItemExclusive']);
    expect(await itemsOf(run.store, ID)).toBe('{"n":2}');
    expect(await itemsOf(run.store, run.session.id)).toBeUndefined();
    expect(run.setCookies).toEqual([]);
    expect(run.logs).toEqual([expect.stringMatching(/^error: regenerateId\(\): .*The session was kept under its current id\.$/)]);
  });

  it('regenerateId() of a new session, the answer already left: nothing stored, an error', async () => {
    const run = await request({ cookie: null, handle: (s, exchange) => (s.set('n', 1), s.regenerateId(), exchange.send()) });
    expect(run.counter.sequence).toEqual([]);
    expect(run.logs).toEqual([expect.stringMatching(/^error: regenerateId\(\): /)]);
  });

  it.each(['succeeded', 'failed'] as const)(
    'read-only, expiry due, a persistent cookie, %s: the expiry slides, the cookie only on success, once the record is read to be still there',
    async (outcome) => {
      const run = await request({
        stored: {},
        elapsedMinutes: 11, // more than half the timeout (20 min): the expiry is refreshed
        behavior: SessionStateBehavior.ReadOnly,
        outcome,
        module: { cookie: { maxAge: 60_000 } },
      });
      // Without the lock, a login may have moved the session meanwhile: the renewal reads it first (see login-undone-by-cookie-renewal).
      expect(run.counter.sequence).toEqual(outcome === 'succeeded' ? ['resetItemTimeout', 'getItem'] : ['resetItemTimeout']);
      expect(run.setCookies).toHaveLength(outcome === 'succeeded' ? 1 : 0);
    },
  );

  it('read-only, expiry not due: no store call, no cookie', async () => {
    const run = await request({ stored: {}, elapsedMinutes: 9, behavior: SessionStateBehavior.ReadOnly, module: { cookie: { maxAge: 60_000 } } });
    expect(run.counter.sequence).toEqual([]);
    expect(run.setCookies).toEqual([]);
  });

  it('regenerateId() twice in one request: the session moves once, from the id it was loaded with (which goes)', async () => {
    const run = await request({ stored: { a: 1 }, handle: (s) => (s.regenerateId(), s.regenerateId()) });
    expect(flat(await run.store.getItem(ID)).item).toBeNull();
    expect(await itemsOf(run.store, run.session.id)).toBe('{"a":1}');
    expect(run.setCookies).toHaveLength(1);
    expect(names(run.setCookies[0], run.session.id)).toBe(true);
  });

  it('the timeout set to the value it has: nothing to save, only the lock released', async () => {
    const run = await request({
      stored: { a: 1 },
      handle: (s) => {
        const current = s.timeout;
        s.timeout = current;
      },
    });
    expect(run.counter.sequence).toEqual(['releaseItemExclusive']);
  });

  it('delete() alone (no other write in the request): saved, the key gone from the store', async () => {
    const run = await request({ stored: { a: 1, b: 2 }, handle: (s) => void s.delete('a') });
    expect(await itemsOf(run.store, ID)).toBe('{"b":2}');
  });

  it('clear() alone: saved, the stored items empty', async () => {
    const run = await request({ stored: { a: 1, b: 2 }, handle: (s) => s.clear() });
    expect(await itemsOf(run.store, ID)).toBe('{}');
  });

  it('a save that fails before writing (a value mutated into one the store cannot keep) releases the lock', async () => {
    const run = await request({ stored: { list: [] }, handle: (s) => (s.get('list') as unknown[]).push(() => 0), mayFail: true });
    expect(run.error).toBeInstanceOf(Error);
    expect(run.counter.sequence).toEqual(['releaseItemExclusive']);
    expect(flat(await run.store.getItem(ID)).locked).toBe(false);
    expect(await itemsOf(run.store, ID)).toBe('{"list":[]}');
  });
});
