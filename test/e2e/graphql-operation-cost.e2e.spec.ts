import type { INestApplication } from '@nestjs/common';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { SessionStateModule } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { ADAPTERS, createTestApp } from '../support/test-app.js';
import { NODE_TYPE_NAMES, NODES_TYPE_DEFS, NodesResolver, NodeTypeResolver } from './fixtures/graphql-nodes.resolver.js';
import { GRAPHQL_SERVER, gql, graphqlModule } from './graphql-app.js';

/**
 * Counts the server's work on the schema: every `getFields()` of its object and interface types
 * (graphql's validation and execution, and the module's operation walk, all read fields so).
 */
function countFieldReads(app: INestApplication): { reads: number } {
  const counter = { reads: 0 };
  const schema = app.get(GraphQLSchemaHost).schema;
  for (const type of Object.values(schema.getTypeMap())) {
    const own = type as unknown as { getFields?: () => unknown };
    if (typeof own.getFields !== 'function') continue;
    const getFields = own.getFields.bind(type);
    own.getFields = () => {
      counter.reads++;
      return getFields();
    };
  }
  return counter;
}

/** `{ nodes { children { … depth times … id } } }` */
const deepQuery = (depth: number) => `{ nodes { ${'children { '.repeat(depth)}id${' }'.repeat(depth)} } }`;

describe.each(ADAPTERS)('the cost of a deep GraphQL operation on an interface over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  let withModule: INestApplication;
  let withoutModule: INestApplication;
  let store: StoreCallCounter;
  const graphql = () => graphqlModule(adapter, { autoSchemaFile: undefined, typeDefs: NODES_TYPE_DEFS });
  beforeAll(async () => {
    const counting = countingStore(new InMemorySessionStateStore());
    store = counting.counter;
    withModule = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store: counting.store }), graphql()],
      providers: [NodesResolver, NodeTypeResolver],
    });
    withoutModule = await createTestApp(adapter, { imports: [graphql()], providers: [NodesResolver, NodeTypeResolver] });
  });
  afterAll(async () => {
    await withModule?.close();
    await withoutModule?.close();
  });

  it(`(${server}) a 9- and a 30-level query answer, and cost what they cost without the module (plus a walk linear in their size)`, async () => {
    const withCount = countFieldReads(withModule);
    const withoutCount = countFieldReads(withoutModule);
    for (const depth of [9, 30]) {
      const query = { query: deepQuery(depth) };
      withoutCount.reads = 0;
      const plain = await gql(withoutModule.getHttpServer(), query);
      expect(plain.status).toBe(200);
      expect(plain.body).toEqual({ data: { nodes: [] } });

      withCount.reads = 0;
      store.reset();
      const res = await gql(withModule.getHttpServer(), query);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ data: { nodes: [] } });
      expect(store.total()).toBe(0);
      // The walk reads the fields of the interface and its 5 types once per level (the unfixed
      // walk: (1 + 5)^depth times, 10 million at 9 levels, seconds of a blocked process).
      expect(withCount.reads - withoutCount.reads).toBeLessThanOrEqual((depth + 1) * (1 + NODE_TYPE_NAMES.length));
    }
  });

  it(`(${server}) a hostile operation (fragment spreads 2^25 paths deep, many aliases, a cycle, in a batch) is refused or answered, never hangs the process`, async () => {
    const http = withModule.getHttpServer();
    const chain = Array.from({ length: 25 }, (_, i) => `fragment F${i} on Node { children { ...F${i + 1} ...F${i + 1} } }`).join('\n');
    const fragments = await gql(http, { query: `{ nodes { ...F0 } } ${chain} fragment F25 on Node { id }` });
    expect(fragments.body).toEqual({ data: { nodes: [] } });
    const aliases = Array.from({ length: 300 }, (_, i) => `n${i}: nodes { ${'children { '.repeat(8)}id${' }'.repeat(8)} }`).join(' ');
    const aliased = await gql(http, { query: `{ ${aliases} me }` });
    expect(aliased.status).toBe(200);
    expect(aliased.body.data.me).toBeNull();
    // A cycle: the server refuses it at validation; a batch's other operations are walked before it.
    const cycle = await gql(http, { query: '{ nodes { ...X } } fragment X on Node { children { ...X } }' });
    expect(cycle.body.errors?.[0]?.message).toMatch(/cannot spread fragment "X" within itself/i);
    // In a batch, the other operations are walked before the server validates them.
    const batch = await gql(http, [
      { query: '{ me }' },
      { query: '{ nodes { ...X } } fragment X on Node { children { ...X } }' },
      { query: deepQuery(40) },
    ]);
    expect(batch.status).toBe(200);
    expect(batch.body[0]).toEqual({ data: { me: null } });
    expect(batch.body[1].errors?.[0]?.message).toMatch(/cannot spread fragment "X" within itself/i);
    expect(batch.body[2]).toEqual({ data: { nodes: [] } });
    // The process still answers.
    expect((await gql(http, { query: '{ me }' })).body).toEqual({ data: { me: null } });
  });
});
