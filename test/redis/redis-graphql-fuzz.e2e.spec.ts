/**
 * A seeded randomized run of GraphQL requests (Apollo on Express, Mercurius on Fastify) on two
 * instances sharing one real Redis: each user's session gets bursts of concurrent requests, each to
 * a random instance, of every kind a GraphQL client sends: a mutation, a batch of mutations and
 * queries, a batch one of whose mutations throws, a partial success (`increment failingIncrement`),
 * a query. Invariants after each run, per session:
 * - every answer is a 200;
 * - the increments acknowledged (an operation without errors, in a request none of whose operations
 *   failed) are the session's count, each once: 2, 3, … its final count (no lost, doubled or unacknowledged write);
 * - a request that failed saved nothing; one of a kind that cannot fail (a mutation, a batch without
 *   the throwing mutation, a query) answers no error, a mark as not saved included; a batch that
 *   failed marks at most one answer, one without an error of its own, which keeps its data; over the
 *   runs, some answers are marked;
 * - a query reads a count between 1 and the final one;
 * - quiet: no lease active in either instance, no lock left in Redis.
 * GRAPHQL_FUZZ_SEED=<first> GRAPHQL_FUZZ_RUNS=<n> npx vitest run test/redis/redis-graphql-fuzz.e2e.spec.ts
 */
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { GRAPHQL_SERVER, gql, startGraphQLApp, type GraphQLApp } from '../e2e/graphql-app.js';
import { prng } from '../support/prng.js';
import { locksLeft, useRedisServer } from '../support/redis-test-helpers.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';

const FIRST_SEED = Number(process.env.GRAPHQL_FUZZ_SEED ?? 5100);
const RUNS = Number(process.env.GRAPHQL_FUZZ_RUNS ?? 3);
const USERS = 3;
const REQUESTS = 14;

type Operation = { query: string };
type Kind = 'mutation' | 'batch' | 'failing-batch' | 'partial' | 'query';
const KINDS: [Kind, number][] = [
  ['mutation', 35],
  ['batch', 20],
  ['failing-batch', 15],
  ['partial', 10],
  ['query', 20],
];
const INCREMENT: Operation = { query: 'mutation { increment }' };
const COUNTER: Operation = { query: '{ counter }' };
const FAILING: Operation = { query: 'mutation { failingIncrement }' };
const NOT_SAVED = 'SESSION_STATE_NOT_SAVED';

interface Entry {
  data?: { increment?: number; counter?: number } | null;
  errors?: { extensions?: { code?: string } }[];
}

/** A request's body: one operation, or a batch. */
function draw(random: () => number): { kind: Kind; body: Operation | Operation[] } {
  let pick = random() * 100;
  const kind = KINDS.find(([, weight]) => (pick -= weight) < 0)![0];
  const some = () => Array.from({ length: 1 + Math.floor(random() * 3) }, () => (random() < 0.7 ? INCREMENT : COUNTER));
  switch (kind) {
    case 'mutation':
      return { kind, body: INCREMENT };
    case 'batch':
      return { kind, body: [INCREMENT, ...some()] };
    case 'failing-batch': {
      const batch = some();
      batch.splice(Math.floor(random() * (batch.length + 1)), 0, FAILING);
      return { kind, body: batch };
    }
    case 'partial':
      return { kind, body: { query: 'mutation { increment failingIncrement }' } };
    case 'query':
      return { kind, body: COUNTER };
  }
}

const redis = useRedisServer();

describe.each(ADAPTERS)('GraphQL on two instances and one Redis, seeded randomized runs, over %s', (adapter) => {
  const graphqlServer = GRAPHQL_SERVER[adapter];
  let instances: GraphQLApp[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) instances.push(await startGraphQLApp(adapter, { store: new RedisSessionStateStore({ url: redis.server.url }) }));
  });
  afterAll(async () => {
    await Promise.all(instances.map((g) => g.app.close()));
    instances = [];
  });

  const seeds = Array.from({ length: RUNS }, (_, k) => FIRST_SEED + k);
  /** Answers marked as not saved, over the runs. */
  let marks = 0;
  it(`(${graphqlServer}) keeps every invariant, seeds ${seeds[0]}..${seeds.at(-1)}`, { timeout: 20_000 + RUNS * 10_000 }, async () => {
    const violations: string[] = [];
    for (const seed of seeds) violations.push(...(await runOnce(seed)).map((v) => `seed ${seed}: ${v}`));
    expect(violations).toEqual([]);
    // Every failing batch changed the session (the throwing mutation writes before it throws): its last
    // answer is marked whenever that is not the failing one (15 to 17 answers over the default seeds).
    expect(marks).toBeGreaterThan(0);
  });

  async function runOnce(seed: number): Promise<string[]> {
    const violations: string[] = [];
    await Promise.all(
      Array.from({ length: USERS }, async (_, user) => {
        const random = prng((seed * 31 + user) | 0);
        const seeded = await gql(instances[0]!.http, INCREMENT);
        const cookie = sessionCookie(seeded.headers)!;
        const acked: number[] = [];
        const read: number[] = [];
        for (let sent = 0; sent < REQUESTS;) {
          const burst = Array.from({ length: Math.min(REQUESTS - sent, 1 + Math.floor(random() * 4)) }, () => ({
            ...draw(random),
            to: instances[Math.floor(random() * instances.length)]!,
          }));
          sent += burst.length;
          const answers = await Promise.all(burst.map(({ body, to }) => gql(to.http, body, cookie)));
          answers.forEach((res, i) => {
            const { kind } = burst[i]!;
            const what = `user ${user} ${kind} ${JSON.stringify(burst[i]!.body)}`;
            if (res.status !== 200) return violations.push(`${what}: answered ${res.status}`);
            const entries: Entry[] = Array.isArray(res.body) ? res.body : [res.body];
            const failed = entries.some((entry) => (entry.errors?.length ?? 0) > 0);
            const marked = entries.filter((entry) => entry.errors?.some((e) => e.extensions?.code === NOT_SAVED)).length;
            if (!failed) {
              for (const entry of entries) {
                if (typeof entry.data?.increment === 'number') acked.push(entry.data.increment);
                if (typeof entry.data?.counter === 'number') read.push(entry.data.counter);
              }
            } else if (kind !== 'failing-batch' && kind !== 'partial') {
              violations.push(`${what}: failed ${JSON.stringify(res.body)}`);
            }
            if (marked > 1) violations.push(`${what}: ${marked} answers marked as not saved`);
            // The mark goes only on an answer without an error of its own, which keeps its data.
            for (const entry of entries) {
              const codes = (entry.errors ?? []).map((e) => e.extensions?.code);
              if (codes.includes(NOT_SAVED) && (codes.length > 1 || !entry.data)) violations.push(`${what}: marked ${JSON.stringify(entry)}`);
            }
            marks += marked;
          });
        }
        const final = (await gql(instances[1]!.http, COUNTER, cookie)).body as Entry;
        const count = final.data?.counter ?? -1;
        const expected = Array.from({ length: count - 1 }, (_, i) => i + 2);
        const got = [...acked].sort((x, y) => x - y);
        if (JSON.stringify(got) !== JSON.stringify(expected)) violations.push(`user ${user}: count ${count}, acknowledged ${JSON.stringify(got)}`);
        for (const value of read) if (value < 1 || value > count) violations.push(`user ${user}: a query read ${value}, the final count is ${count}`);
      }),
    );
    for (const [i, g] of instances.entries()) {
      const active = g.app.get(SessionStateLifecycle).activeLeases;
      if (active !== 0) violations.push(`instance ${i}: ${active} leases active`);
    }
    const locks = await locksLeft(redis.admin);
    if (locks !== 0) violations.push(`${locks} locks left in Redis`);
    return violations;
  }
});
