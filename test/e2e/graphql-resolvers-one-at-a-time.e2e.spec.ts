/**
 * The resolvers of one GraphQL request that holds its session's lock run one at a time. A batch's
 * operations run in parallel on Apollo and Mercurius, and so do a query's root fields; they share the
 * request's one session. Each of three mutations of a batch that read, awaited and wrote the session
 * answered 2 with 200 and no error, and 2 was saved: two increments lost (review R18).
 */
import { Field, Int, Mutation, ObjectType, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { setTimeout as databaseCall } from 'node:timers/promises';
import { HttpSessionState, Session, SessionState, SessionStateBehavior } from '../../src/index.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { GRAPHQL_SERVER, gql, startGraphQLApp, type GraphQLApp } from './graphql-app.js';

@Resolver()
class SlowCounterResolver {
  /** Reads, awaits (a database call, say), writes: as most resolvers that write the session. */
  @Mutation(() => Int)
  async slowIncrement(@Session() session: HttpSessionState): Promise<number> {
    const count = (session.get<number>('count') ?? 0) + 1;
    await databaseCall(5);
    session.set('count', count);
    return count;
  }

  /** A query that declares Required (it writes), read-await-write. */
  @Query(() => Int)
  @SessionState(SessionStateBehavior.Required)
  async slowVisit(@Session() session: HttpSessionState): Promise<number> {
    const count = (session.get<number>('count') ?? 0) + 1;
    await databaseCall(5);
    session.set('count', count);
    return count;
  }
}

@ObjectType()
class Item {
  @Field(() => Int) id!: number;
}

/** A DataLoader-style batcher: the loads of one tick are answered together (on setImmediate). */
class Batcher {
  private waiting: { key: number; resolve: (value: number) => void }[] = [];
  load(key: number): Promise<number> {
    return new Promise((resolve) => {
      if (this.waiting.length === 0) setImmediate(() => this.waiting.splice(0).forEach((w) => w.resolve(w.key * 10)));
      this.waiting.push({ key, resolve });
    });
  }
}

/** Field resolvers that take the session, on a list, under a root field that takes it too (review R20). */
@Resolver(() => Item)
class ItemResolver {
  private readonly batcher = new Batcher();

  @Query(() => [Item])
  @SessionState(SessionStateBehavior.Required)
  async items(@Session() session: HttpSessionState): Promise<Item[]> {
    session.set('visits', (session.get<number>('visits') ?? 0) + 1);
    await databaseCall(2);
    return [{ id: 1 }, { id: 2 }, { id: 3 }];
  }

  @ResolveField(() => Int)
  async seen(@Parent() item: Item, @Session() session: HttpSessionState): Promise<number> {
    const seen = (session.get<number>('seen') ?? 0) + 1;
    await this.batcher.load(item.id);
    session.set('seen', seen);
    return seen;
  }
}

describe.each(ADAPTERS)('field resolvers that take the session, with interceptors on field resolvers, over %s', (adapter) => {
  let g: GraphQLApp;
  beforeAll(async () => {
    g = await startGraphQLApp(adapter, {}, [ItemResolver], { fieldResolverEnhancers: ['interceptors'] });
  });
  afterAll(() => g.app.close());

  it(`(${GRAPHQL_SERVER[adapter]}) a list's field resolvers awaiting a batching loader: one at a time, no deadlock, all three writes seen`, async () => {
    const cookie = sessionCookie((await gql(g.http, { query: 'mutation { increment }' })).headers)!;
    const res = await gql(g.http, { query: '{ items { id seen } }' }, cookie);
    expect({ status: res.status, errors: res.body.errors }).toEqual({ status: 200, errors: undefined });
    expect(res.body.data.items.map((i: { seen: number }) => i.seen)).toEqual([1, 2, 3]);
  });
});

describe.each(ADAPTERS)('the resolvers of one read-write GraphQL request, over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  let g: GraphQLApp;
  beforeAll(async () => {
    g = await startGraphQLApp(adapter, {}, [SlowCounterResolver]);
  });
  afterAll(() => g.app.close());

  async function seeded(): Promise<string> {
    return sessionCookie((await gql(g.http, { query: 'mutation { increment }' })).headers)!;
  }
  const counterOf = async (cookie: string) => (await gql(g.http, { query: '{ counter }' }, cookie)).body.data.counter;

  // A request of a stored session holds its lock; one without a cookie starts a new session and holds no
  // store lock, yet its resolvers share its one session as much (review R21: 1, 1, 1 answered and 1 saved).
  const REQUESTS = [
    ['of a stored session (locked)', true],
    ['that starts a new session (no cookie)', false],
  ] as const;

  it.each(REQUESTS)(
    `(${server}) a batch of three mutations %s that read, await and write: each sees the one before, all three saved`,
    async (_, stored) => {
      const cookie = stored ? await seeded() : undefined;
      const batch = ['A', 'B', 'C'].map((name) => ({ query: `mutation ${name} { slowIncrement }` }));
      const res = await gql(g.http, batch, cookie);
      expect(res.status).toBe(200);
      const before = stored ? 1 : 0;
      const answers = (res.body as { data?: { slowIncrement: number }; errors?: unknown }[]).map((r) => r.errors ?? r.data!.slowIncrement);
      expect(answers.sort((x, y) => Number(x) - Number(y))).toEqual([before + 1, before + 2, before + 3]);
      expect(await counterOf(cookie ?? sessionCookie(res.headers)!)).toBe(before + 3);
    },
  );

  it.each(REQUESTS)(`(${server}) one query %s whose two root fields declare Required and write: both increments saved`, async (_, stored) => {
    const cookie = stored ? await seeded() : undefined;
    const res = await gql(g.http, { query: '{ a: slowVisit b: slowVisit }' }, cookie);
    expect({ status: res.status, errors: res.body.errors }).toEqual({ status: 200, errors: undefined });
    const before = stored ? 1 : 0;
    expect([res.body.data.a, res.body.data.b].sort((x: number, y: number) => x - y)).toEqual([before + 1, before + 2]);
    expect(await counterOf(cookie ?? sessionCookie(res.headers)!)).toBe(before + 2);
  });

  it(`(${server}) twenty such mutations as separate requests of one session: all saved (the lock, as before)`, async () => {
    const cookie = await seeded();
    await Promise.all(Array.from({ length: 20 }, () => gql(g.http, { query: 'mutation { slowIncrement }' }, cookie)));
    expect(await counterOf(cookie)).toBe(21);
  });
});
