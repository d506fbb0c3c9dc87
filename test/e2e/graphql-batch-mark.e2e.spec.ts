/**
 * A GraphQL batch one of whose operations failed: its session changes are all discarded, and the
 * answer the server serialises last, when it has no error of its own and the batch changed the
 * session, carries `SESSION_STATE_NOT_SAVED` beside its data (review R36, low; docs/TRANSPORTS.md).
 * Both servers run a batch's operations at once: the order in which they answer is set here by gates
 * (a resolver parked until the test opens it); the failing one uses no session, so both are parked
 * together whatever order the server calls them in.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { Injectable, RequestTimeoutException, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { Args, GqlExecutionContext, Int, Mutation, Resolver } from '@nestjs/graphql';
import { Subject, mergeMap, race, take, throwError, type Observable } from 'rxjs';
import { HttpSessionState, Session } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { GRAPHQL_SERVER, gql, startGraphQLApp, type GraphQLApp } from './graphql-app.js';

@Resolver()
class BatchMarkResolver {
  constructor(private readonly gates: Gates) {}

  @Mutation(() => Boolean)
  async regenerate(@Session() session: HttpSessionState, @Args('gate', { type: () => String }) gate: string): Promise<boolean> {
    session.regenerateId();
    await this.gates.pass(gate);
    return true;
  }

  /** Reads an object value (handed out: it may be changed in place) and changes nothing. */
  @Mutation(() => Int)
  async readProfile(@Session() session: HttpSessionState, @Args('gate', { type: () => String }) gate: string): Promise<number> {
    const visits = session.get<{ visits: number }>('profile')?.visits ?? 0;
    await this.gates.pass(gate);
    return visits;
  }

  @Mutation(() => Boolean)
  setProfile(@Session() session: HttpSessionState): boolean {
    session.set('profile', { visits: 1 });
    return true;
  }

  @Mutation(() => Boolean)
  async abandonAt(@Session() session: HttpSessionState, @Args('gate', { type: () => String }) gate: string): Promise<boolean> {
    session.abandon();
    await this.gates.pass(gate);
    return true;
  }

  /** Uses no session: parked beside the batch's session resolver, which it never waits for. */
  @Mutation(() => Int, { nullable: true })
  async failAt(@Args('gate', { type: () => String }) gate: string): Promise<number> {
    await this.gates.pass(gate);
    throw new Error('failed on purpose');
  }
}

/**
 * An outer interceptor that gives up on `slowAt` when the test says so, as `timeout()` does when its
 * time is up: the operation answers 408's error while its resolver goes on.
 */
@Injectable()
class GiveUpInterceptor implements NestInterceptor {
  readonly now = new Subject<void>();
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType<string>() !== 'graphql' || GqlExecutionContext.create(context).getInfo().fieldName !== 'slowAt') return next.handle();
    return race(
      next.handle(),
      this.now.pipe(
        take(1),
        mergeMap(() => throwError(() => new RequestTimeoutException())),
      ),
    );
  }
}

@Resolver()
class SlowResolver {
  constructor(private readonly gates: Gates) {}

  /** Uses no session; parked until the test opens its gate, long after the interceptor gave up on it. */
  @Mutation(() => Int, { nullable: true })
  async slowAt(@Args('gate', { type: () => String }) gate: string): Promise<number> {
    await this.gates.pass(gate);
    return 1;
  }
}

const NOT_SAVED = 'SESSION_STATE_NOT_SAVED';
type Entry = { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };
const codes = (entry: Entry) => (entry.errors ?? []).map((e) => e.extensions?.code ?? e.message);

describe.each(ADAPTERS)('a failed GraphQL batch marks its last answer, over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  let g: GraphQLApp;
  beforeAll(async () => {
    g = await startGraphQLApp(adapter, {}, [BatchMarkResolver]);
  });
  afterEach(() => {
    g.gates.openAll();
    expect(g.app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
  afterAll(() => g.app.close());

  /** A session with count 1 and a profile object. */
  async function seeded(): Promise<string> {
    const res = await gql(g.http, { query: 'mutation { increment setProfile }' });
    expect(res.body).toEqual({ data: { increment: 1, setProfile: true } });
    return sessionCookie(res.headers)!;
  }
  let sent = 0;
  const counterOf = async (cookie: string) => (await gql(g.http, { query: '{ counter }' }, cookie)).body.data.counter as number;

  /**
   * Sends `[session operation parked at 's', failAt(gate: 'f')]`, both parked, then lets them answer in
   * `order`. Between the two openings, one turn of the event loop: the first one's answer (promises
   * only, no I/O) has gone through the server's hooks before the second resumes.
   */
  async function batch(cookie: string | undefined, operation: string, order: ['s' | 'f', 's' | 'f']) {
    const tag = String(++sent); // gate names of this batch alone
    const answered = gql(
      g.http,
      [{ query: `mutation { ${operation.replace('GATE', `"s${tag}"`)} }` }, { query: `mutation { failAt(gate: "f${tag}") }` }],
      cookie,
    ).then((res) => res);
    await Promise.all([g.gates.arrived(`s${tag}`), g.gates.arrived(`f${tag}`)]);
    g.gates.open(`${order[0]}${tag}`);
    await turn();
    g.gates.open(`${order[1]}${tag}`);
    const res = await answered;
    expect(res.status).toBe(200);
    return { res, entries: res.body as [Entry, Entry] };
  }

  it(`(${server}) the changing operation answered last carries the mark beside its data; nothing is saved`, async () => {
    const cookie = await seeded();
    const { entries } = await batch(cookie, 'increment(gate: GATE)', ['f', 's']);
    expect(entries[0]).toEqual({
      data: { increment: 2 },
      errors: [
        expect.objectContaining({
          message: 'Another operation of this batch failed: the session changes of the whole batch were not saved.',
          extensions: expect.objectContaining({ code: NOT_SAVED }),
        }),
      ],
    });
    expect(codes(entries[1])).not.toContain(NOT_SAVED);
    expect(entries[1].errors).toHaveLength(1);
    expect(await counterOf(cookie)).toBe(1);
  });

  it(`(${server}) the failing operation answered last: no answer is marked (the other was serialised before the outcome was known)`, async () => {
    const cookie = await seeded();
    const { entries } = await batch(cookie, 'increment(gate: GATE)', ['s', 'f']);
    expect(entries[0]).toEqual({ data: { increment: 2 } });
    expect(codes(entries[1])).not.toContain(NOT_SAVED);
    expect(await counterOf(cookie)).toBe(1);
  });

  it(`(${server}) a new id (regenerateId) is a change: marked, no cookie for it, the old session unchanged`, async () => {
    const cookie = await seeded();
    const { res, entries } = await batch(cookie, 'regenerate(gate: GATE)', ['f', 's']);
    expect(entries[0].data).toEqual({ regenerate: true });
    expect(codes(entries[0])).toEqual([NOT_SAVED]);
    expect(sessionCookie(res.headers)).toBeUndefined();
    expect(await counterOf(cookie)).toBe(1);
  });

  it(`(${server}) a read-write batch that only read (an object value handed out) marks nothing`, async () => {
    const cookie = await seeded();
    const { entries } = await batch(cookie, 'readProfile(gate: GATE)', ['f', 's']);
    expect(entries[0]).toEqual({ data: { readProfile: 1 } });
  });

  it(`(${server}) abandon() of a stored session is a change (marked); of a new one, which a success would not store, it is not`, async () => {
    const cookie = await seeded();
    const stored = await batch(cookie, 'abandonAt(gate: GATE)', ['f', 's']);
    expect(codes(stored.entries[0])).toEqual([NOT_SAVED]);
    expect(await counterOf(cookie)).toBe(1);
    const fresh = await batch(undefined, 'abandonAt(gate: GATE)', ['f', 's']);
    expect(fresh.entries[0]).toEqual({ data: { abandonAt: true } });
    // And a new session whose batch set a value is marked: a success would have stored it.
    const written = await batch(undefined, 'increment(gate: GATE)', ['f', 's']);
    expect(codes(written.entries[0])).toEqual([NOT_SAVED]);
    expect(sessionCookie(written.res.headers)).toBeUndefined();
  });

  it(`(${server}) a read-only batch with a failing operation marks nothing`, async () => {
    const cookie = await seeded();
    for (const operations of [
      [{ query: '{ counter }' }, { query: '{ noSuchField }' }],
      [{ query: '{ noSuchField }' }, { query: '{ counter }' }],
    ]) {
      const res = await gql(g.http, operations, cookie);
      const read = (res.body as Entry[]).find((entry) => entry.data?.counter !== undefined);
      expect(read).toEqual({ data: { counter: 1 } });
    }
  });
});

describe.each(ADAPTERS)('a GraphQL batch one of whose operations an outer interceptor gave up on, over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  const giveUp = new GiveUpInterceptor();
  let g: GraphQLApp;
  beforeAll(async () => {
    g = await startGraphQLApp(adapter, {}, [SlowResolver, { provide: APP_INTERCEPTOR, useValue: giveUp }]);
  });
  afterAll(async () => {
    g.gates.openAll();
    await g.app.close();
  });

  it(`(${server}) the operation given up on answers its error, the changing one answered last is marked, nothing is saved`, async () => {
    const cookie = sessionCookie((await gql(g.http, { query: 'mutation { increment }' })).headers)!;
    const answered = gql(g.http, [{ query: 'mutation { slowAt(gate: "slow") }' }, { query: 'mutation { increment(gate: "inc") }' }], cookie).then(
      (res) => res,
    );
    await Promise.all([g.gates.arrived('slow'), g.gates.arrived('inc')]);
    giveUp.now.next(); // the outer interceptor's time is up: slowAt's resolver is still parked
    await turn();
    g.gates.open('inc');
    const res = await answered;
    expect(res.status).toBe(200);
    const [slow, increment] = res.body as [Entry, Entry];
    expect(slow.data).toEqual({ slowAt: null });
    expect(codes(slow)).not.toContain(NOT_SAVED);
    expect(slow.errors).toHaveLength(1);
    expect(increment.data).toEqual({ increment: 2 });
    expect(codes(increment)).toEqual([NOT_SAVED]);
    // The resolver given up on ends; the session is as before the batch, and free.
    g.gates.open('slow');
    expect((await gql(g.http, { query: 'mutation { increment }' }, cookie)).body).toEqual({ data: { increment: 2 } });
    expect(g.app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
});
