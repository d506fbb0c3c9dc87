import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { timeout } from 'rxjs';
import { SessionStateStoreUnavailableError } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { GRAPHQL_SERVER, gql, startGraphQLApp, type GraphQLApp } from './graphql-app.js';
import { idOf } from './session-app.js';

describe.each(ADAPTERS)('GraphQL sessions over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  let g: GraphQLApp;
  // One app per adapter (a GraphQL schema takes seconds to build); every test has its own session.
  beforeAll(async () => {
    g = await startGraphQLApp(adapter);
  });
  afterAll(() => g.app.close());
  beforeEach(() => {
    g.counter.reset();
    g.guard.seen.length = 0;
  });

  /** A session with `count` at 1, made by a mutation (which sets the cookie). */
  async function seeded(): Promise<string> {
    const res = await gql(g.http, { query: 'mutation { increment }' });
    expect(res.body).toEqual({ data: { increment: 1 } });
    return sessionCookie(res.headers)!;
  }
  const counterOf = async (cookie: string) => (await gql(g.http, { query: '{ counter }' }, cookie)).body.data.counter;

  it(`(${server}) a mutation writes the session and sets the cookie; the next query sees the write`, async () => {
    const cookie = await seeded();
    expect(g.counter.calls).toEqual({ setAndReleaseItemExclusive: 1 });
    expect((await gql(g.http, { query: 'mutation { increment }' }, cookie)).body).toEqual({ data: { increment: 2 } });
    expect(await counterOf(cookie)).toBe(2);
  });

  it(`(${server}) a query costs one store read and no lock, whatever the number of resolvers (aliases, a field resolver)`, async () => {
    const cookie = await seeded();
    g.counter.reset();
    const res = await gql(g.http, { query: '{ a: counter b: counter profile { visits } }' }, cookie);
    expect(res.body).toEqual({ data: { a: 1, b: 1, profile: { visits: 1 } } });
    expect(g.counter.calls).toEqual({ getItem: 1 });
  });

  it(`(${server}) an operation that uses no session costs no store call and sets no cookie`, async () => {
    const cookie = await seeded();
    g.counter.reset();
    const res = await gql(g.http, { query: '{ ping }' }, cookie);
    expect(res.body).toEqual({ data: { ping: 'pong' } });
    expect(g.counter.total()).toBe(0);
    expect(sessionCookie((await gql(g.http, { query: '{ ping }' })).headers)).toBeUndefined();
  });

  it(`(${server}) a query with a resolver that declares Required takes the lock`, async () => {
    const cookie = await seeded();
    g.counter.reset();
    expect((await gql(g.http, { query: '{ lockedCounter counter }' }, cookie)).body).toEqual({ data: { lockedCounter: 1, counter: 1 } });
    expect(g.counter.calls).toEqual({ getItemExclusive: 1, releaseItemExclusive: 1 });
  });

  it(`(${server}) 50 concurrent increment mutations on one session end at exactly 50`, async () => {
    const cookie = await seeded();
    const responses = await Promise.all(Array.from({ length: 49 }, () => gql(g.http, { query: 'mutation { increment }' }, cookie)));
    expect(responses.map((r) => r.body.data.increment).sort((x, y) => x - y)).toEqual(Array.from({ length: 49 }, (_, i) => i + 2));
    expect(await counterOf(cookie)).toBe(50);
  });

  it(`(${server}) a batched request acquires once and saves once, after its last operation`, async () => {
    const cookie = await seeded();
    g.counter.reset();
    const res = await gql(
      g.http,
      [{ query: '{ counter }' }, { query: 'mutation { increment }' }, { query: 'mutation Two { increment }' }, { query: '{ profile { visits } }' }],
      cookie,
    );
    expect(res.status).toBe(200);
    expect(res.body.map((r: { data: unknown }) => r.data)).toEqual([
      { counter: expect.any(Number) },
      { increment: expect.any(Number) },
      { increment: expect.any(Number) },
      { profile: { visits: expect.any(Number) } },
    ]);
    // One lock for the batch (its strongest operation is a mutation), one save when all are resolved.
    expect(g.counter.calls).toEqual({ getItemExclusive: 1, setAndReleaseItemExclusive: 1 });
    expect(await counterOf(cookie)).toBe(3);
  });

  // Review R36: Apollo answers a batch with a malformed entry 400 at once, while another entry's
  // acquisition is still under way; that lease was left holding the lock until it turned stale (110 s).
  it.each([
    ['a number', 5],
    ['null', null],
    ['a string', 'x'],
    ['a query that is not a string', { query: 5 }],
    ['variables that are not an object', { query: '{ ping }', variables: 'zz' }],
  ])(
    `(${server}) a batch with a malformed entry (%s) is refused or answered with its error, saves nothing, and leaves the session free at once`,
    async (_what, bad) => {
      const cookie = await seeded();
      const lifecycle = g.app.get(SessionStateLifecycle);
      const res = await gql(g.http, [{ query: 'mutation { increment }' }, bad] as object[], cookie);
      // And with the malformed entry first.
      const first = await gql(g.http, [bad, { query: 'mutation { increment }' }] as object[], cookie);
      expect(first.status).toBe(res.status);
      // Apollo refuses the whole batch (400); Mercurius refuses it, or answers each entry (its error in
      // the entry's answer; the batch is one unit for the session, see docs/TRANSPORTS.md).
      const refused = res.status >= 400 && res.status < 500;
      const entryFailed = res.status === 200 && (res.body as { errors?: unknown[] }[]).some((entry) => entry.errors?.length);
      expect(refused || entryFailed).toBe(true);
      // Served now, not after executionTimeout (this test's own timeout is far shorter): the lock is free,
      // and neither batch's increment was saved.
      const next = await gql(g.http, { query: 'mutation { increment }' }, cookie);
      expect(next.body).toEqual({ data: { increment: 2 } });
      expect(lifecycle.activeLeases).toBe(0);
    },
  );

  it(`(${server}) a mutation whose resolver threw discards the session changes, and so does a partial success`, async () => {
    const cookie = await seeded();
    const failed = await gql(g.http, { query: 'mutation { failingIncrement }' }, cookie);
    expect(failed.body.errors[0].message).toBe('failed on purpose');
    expect(await counterOf(cookie)).toBe(1);
    // Partial success: `increment` answers its new value, but the request has an error, so none of its changes is saved.
    const partial = await gql(g.http, { query: 'mutation { increment failingIncrement }' }, cookie);
    expect(partial.body.data).toEqual({ increment: 2, failingIncrement: null });
    expect(partial.body.errors).toHaveLength(1);
    expect(await counterOf(cookie)).toBe(1);
  });

  it(`(${server}) a resolver that writes the read-only session of a query gets a clear error, and nothing is saved`, async () => {
    const cookie = await seeded();
    const res = await gql(g.http, { query: '{ sneakyWrite }' }, cookie);
    expect(res.body.errors[0].message).toMatch(/read-only/);
    expect(await counterOf(cookie)).toBe(1);
  });

  it(`(${server}) a guard that calls SessionStateAccessor shares the request's acquisition`, async () => {
    const cookie = await seeded();
    g.counter.reset();
    expect((await gql(g.http, { query: 'mutation { guardedIncrement }' }, cookie)).body).toEqual({ data: { guardedIncrement: 2 } });
    expect(g.guard.seen).toEqual([1]);
    expect(g.counter.calls).toEqual({ getItemExclusive: 1, setAndReleaseItemExclusive: 1 });
    // An operation that uses no session: the guard's own read-only acquisition, completed with the request.
    g.counter.reset();
    expect((await gql(g.http, { query: '{ guardedPing }' }, cookie)).body).toEqual({ data: { guardedPing: 'pong' } });
    expect(g.guard.seen).toEqual([1, 2]);
    expect(g.counter.calls).toEqual({ getItem: 1 });
    // And without a cookie: an empty session, nothing stored.
    g.counter.reset();
    expect((await gql(g.http, { query: '{ guardedPing }' })).body).toEqual({ data: { guardedPing: 'pong' } });
    expect(g.counter.total()).toBe(0);
  });

  it(`(${server}) a mutation whose session is revoked while it runs answers its 409, with no data: never a 2xx for a save refused`, async () => {
    const cookie = await seeded();
    const id = idOf(cookie);
    // Signed in as ann, as a login would have stored it.
    const lock = await g.store.getItemExclusive(id);
    if (lock.kind !== 'acquired') throw new Error(lock.kind);
    await g.store.setAndReleaseItemExclusive(id, { ...lock.item, owner: 'ann' }, lock.lockId, false);
    const held = gql(g.http, { query: 'mutation { increment(gate: "revoked") }' }, cookie).then((r) => r);
    await g.gates.arrived('revoked');
    expect(await g.store.revokeItem!(id, 'ann')).toBe(true);
    g.gates.open('revoked');
    const answer = await held;
    expect(answer.status).toBe(409);
    expect(answer.body.data ?? null).toBeNull(); // not `increment: 2`: it was never saved
    expect(answer.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual(['SESSION_STATE_409']);
    expect((await g.store.getItem(id)).kind).toBe('absent');
  });

  it(`(${server}) a POST's operation is the body's, as the server runs it: a URL's operationName does not choose it`, async () => {
    const cookie = await seeded();
    const res = await import('supertest').then((s) =>
      s
        .default(g.http as never)
        .post('/graphql?operationName=Nope')
        .set('Content-Type', 'application/json')
        .set('Cookie', cookie)
        .send({ query: 'mutation A { increment }', operationName: null }),
    );
    // Mercurius ran mutation A while the hooks chose by the URL's name: no session (review R4).
    expect(res.body).toEqual({ data: { increment: 2 } });
    expect(await counterOf(cookie)).toBe(2);
  });

  it(`(${server}) HTTP requests and GraphQL mutations of one session are serialised`, async () => {
    const cookie = await seeded();
    const sends = Array.from({ length: 20 }, (_, i) =>
      i % 2
        ? gql(g.http, { query: 'mutation { increment }' }, cookie)
        : import('supertest').then((s) =>
            s
              .default(g.http as never)
              .post('/count')
              .set('Cookie', cookie),
          ),
    );
    await Promise.all(sends);
    expect(await counterOf(cookie)).toBe(21);
    expect(idOf(cookie)).toHaveLength(32);
  });
});

describe.each(ADAPTERS)('GraphQL when the session cannot be had, over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];

  /** An in-memory store whose reads fail as an unreachable store's do. */
  class UnreachableStore extends InMemorySessionStateStore {
    override async getItem(): Promise<never> {
      throw new SessionStateStoreUnavailableError('store down (test)');
    }
    override async getItemExclusive(): Promise<never> {
      throw new SessionStateStoreUnavailableError('store down (test)');
    }
  }

  let g: GraphQLApp;
  beforeAll(async () => {
    g = await startGraphQLApp(adapter, { store: new UnreachableStore() });
  });
  afterAll(() => g.app.close());

  it(`(${server}) the operation fails with a GraphQL error carrying the status (503, the answer's too), without store internals; no resolver runs`, async () => {
    const cookie = `sid=${'A'.repeat(32)}`;
    for (const query of ['mutation { increment }', '{ counter }']) {
      const res = await gql(g.http, { query }, cookie);
      expect(res.status).toBe(503); // Mercurius answered 200 (review R4)
      expect(res.body.data ?? null).toBeNull();
      expect(res.body.errors).toEqual([
        expect.objectContaining({
          message: 'Session state is unavailable; try again.',
          extensions: expect.objectContaining({ code: 'SESSION_STATE_503' }),
        }),
      ]);
      expect(JSON.stringify(res.body)).not.toMatch(/store down/);
    }
    // The app is still up, and operations without a session are unaffected.
    expect((await gql(g.http, { query: '{ ping }' }, cookie)).body).toEqual({ data: { ping: 'pong' } });
  });
});

/** An app's outer timeout on GraphQL resolvers (NestJS's timeout interceptor, for every resolver). */
@Injectable()
class ResolverTimeout implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle().pipe(timeout(200));
  }
}

describe.each(ADAPTERS)('GraphQL under an outer timeout interceptor, over %s', (adapter) => {
  let g: GraphQLApp;
  afterEach(async () => {
    g.gates.openAll();
    await g.app.close();
  });

  it('a resolver it gave up on keeps the lock until it settles: the next mutation of the session waits, the timed-out one is discarded', async () => {
    g = await startGraphQLApp(adapter, {}, [{ provide: APP_INTERCEPTOR, useClass: ResolverTimeout }]);
    const cookie = sessionCookie((await gql(g.http, { query: 'mutation { increment }' })).headers)!;
    const timedOut = await gql(g.http, { query: 'mutation { increment(gate: "slow") }' }, cookie);
    expect(JSON.stringify(timedOut.body.errors)).toMatch(/Timeout/);
    await g.gates.arrived('slow'); // the resolver is still running
    const next = gql(g.http, { query: 'mutation { increment }' }, cookie).then((r) => r);
    const lifecycle = g.app.get(SessionStateLifecycle);
    await vi.waitFor(() => expect(lifecycle.locks.waiting(idOf(cookie))).toBe(1));
    g.gates.open('slow');
    expect((await next).body).toEqual({ data: { increment: 2 } });
    expect(lifecycle.activeLeases).toBe(0);
  });
});
