/**
 * GraphQL (Apollo on Express, Mercurius on Fastify), two instances on one shared store, a real Redis
 * and DynamoDB Local: the GraphQL hooks' acquisition and completion against a store that answers over
 * the network (the other GraphQL specs run on the in-memory store), and a lock that other instances
 * see (woken by the release on Redis, polled on DynamoDB).
 * Ordered by events only: a resolver parked on a gate, the other instance's lock attempt answered
 * "locked", the leaving client's connection closed on the server.
 */
import type { Server } from 'node:http';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { GRAPHQL_SERVER, gql, startGraphQLApp, type GraphQLApp } from './graphql-app.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';
import { leavingClient, listening } from '../support/leaving-client.js';
import { locksLeft, useRedisServer } from '../support/redis-test-helpers.js';
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';

const redis = useRedisServer();
const table = await useDynamoDBTable('graphql-two-instances');

interface Backend {
  name: string;
  /** A store of its own for each instance (its own client), as another process would have. */
  store(): SessionStateStore;
  /** Locks left at the store after a test (DynamoDB: the next request's being served at once shows it). */
  locksLeft?(): Promise<number>;
}
const BACKENDS: Backend[] = [
  { name: 'Redis', store: () => new RedisSessionStateStore({ url: redis.server.url }), locksLeft: () => locksLeft(redis.admin) },
  { name: 'DynamoDB Local', store: () => table.createStore() },
];
const CASES: [string, Backend, AdapterName][] = BACKENDS.flatMap((backend) =>
  ADAPTERS.map((adapter): [string, Backend, AdapterName] => [`${backend.name}, ${adapter}`, backend, adapter]),
);

describe.each(CASES)('GraphQL on two instances sharing one store (%s)', (_name, backend, adapter) => {
  const graphqlServer = `${GRAPHQL_SERVER[adapter]}, ${backend.name}`;
  const apps: GraphQLApp[] = [];

  async function instance(): Promise<GraphQLApp> {
    const app = await startGraphQLApp(adapter, { store: backend.store() });
    apps.push(app);
    return app;
  }

  afterEach(async () => {
    for (const a of apps) a.gates.openAll();
    for (const a of apps) expect(a.app.get(SessionStateLifecycle).activeLeases).toBe(0);
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
    if (backend.locksLeft) expect(await backend.locksLeft()).toBe(0);
  });

  /** A new session, counter at 1 (one mutation without a cookie). */
  async function seeded(app: GraphQLApp): Promise<string> {
    const res = await gql(app.http, { query: 'mutation { increment }' });
    expect(res.body).toEqual({ data: { increment: 1 } });
    return sessionCookie(res.headers)!;
  }

  const counterOf = async (app: GraphQLApp, cookie: string) =>
    ((await gql(app.http, { query: '{ counter }' }, cookie)).body as { data: { counter: number } }).data.counter;

  it(`(${graphqlServer}) mutations and batches of one session sent to two instances at once lose nothing`, async () => {
    const [a, b] = [await instance(), await instance()];
    const cookie = await seeded(a);
    const targets = [a, b];
    const single = Array.from({ length: 24 }, (_, i) => gql(targets[i % 2]!.http, { query: 'mutation { increment }' }, cookie));
    // A batch is one unit for the session: its two mutations run one after the other under one lock.
    const batches = Array.from({ length: 8 }, (_, i) =>
      gql(targets[(i + 1) % 2]!.http, [{ query: 'mutation { increment }' }, { query: 'mutation { increment }' }], cookie),
    );
    const answers = await Promise.all([...single, ...batches]);
    for (const res of answers) expect(res.status).toBe(200);
    const values = [
      ...answers.slice(0, 24).map((res) => (res.body as { data: { increment: number } }).data.increment),
      ...answers.slice(24).flatMap((res) => (res.body as { data: { increment: number } }[]).map((entry) => entry.data.increment)),
    ].sort((x, y) => x - y);
    // Every increment saw the one before it: 2 to 41, each once.
    expect(values).toEqual(Array.from({ length: 40 }, (_, i) => i + 2));
    expect(await counterOf(b, cookie)).toBe(41);
  });

  it(`(${graphqlServer}) a batch with a malformed entry leaves the session free for the other instance at once`, async () => {
    const [a, b] = [await instance(), await instance()];
    const cookie = await seeded(a);
    const res = await gql(a.http, [{ query: 'mutation { increment }' }, 5] as object[], cookie);
    // Both servers refuse such a batch (Apollo 400, after the other entry's acquisition had started).
    expect(res.status).toBe(400);
    // Served now, on the other instance, not after executionTimeout (110 s; this test's timeout is far shorter).
    expect((await gql(b.http, { query: 'mutation { increment }' }, cookie)).body).toEqual({ data: { increment: 2 } });
  });

  it(`(${graphqlServer}) a mutation whose client left holds the lock until its resolver settles, and the other instance's waits`, async () => {
    const [a, b] = [await instance(), await instance()];
    const cookie = await seeded(a);
    await listening(a.http as Server);
    const left = leavingClient(a.http as Server, { path: '/graphql', cookie, json: { query: 'mutation { increment(gate: "left") }' } });
    await a.gates.arrived('left');
    // The other instance's mutation finds the session locked, and waits.
    const refused = b.counter.next('getItemExclusive', (answer) => (answer as { kind: string }).kind === 'locked');
    let settled = false;
    const waiting = gql(b.http, { query: 'mutation { increment }' }, cookie).then((res) => ((settled = true), res));
    await refused;
    left.leave();
    await left.closedOnServer;
    expect(settled).toBe(false);
    a.gates.open('left');
    // The resolver ran to its end and the server still ended its answer (to nobody): its changes were
    // saved then, and only then did the waiting mutation run, on them.
    const res = await waiting;
    expect(res.body).toEqual({ data: { increment: 3 } });
    expect(await counterOf(b, cookie)).toBe(3);
  });
});
