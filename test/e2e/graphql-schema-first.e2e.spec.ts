import type { INestApplication } from '@nestjs/common';
import { SessionStateModule } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { SCHEMA_FIRST_TYPE_DEFS, SchemaFirstResolver, VisitorResolver } from './fixtures/schema-first.resolver.js';
import { GRAPHQL_SERVER, gql, graphqlModule } from './graphql-app.js';

describe.each(ADAPTERS)('schema-first GraphQL sessions over %s', (adapter) => {
  let app: INestApplication;
  let counter: StoreCallCounter;
  beforeAll(async () => {
    const counting = countingStore(new InMemorySessionStateStore());
    counter = counting.counter;
    app = await createTestApp(adapter, {
      imports: [
        SessionStateModule.forRoot({ store: counting.store }),
        graphqlModule(adapter, { autoSchemaFile: undefined, typeDefs: SCHEMA_FIRST_TYPE_DEFS }),
      ],
      providers: [SchemaFirstResolver, VisitorResolver],
    });
  });
  afterAll(() => app.close());

  it(`(${GRAPHQL_SERVER[adapter]}) 20 concurrent mutations end at 20; a query with a field resolver costs one read`, async () => {
    const http = app.getHttpServer();
    const cookie = sessionCookie((await gql(http, { query: 'mutation { increment }' })).headers)!;
    await Promise.all(Array.from({ length: 19 }, () => gql(http, { query: 'mutation { increment }' }, cookie)));
    counter.reset();
    expect((await gql(http, { query: '{ counter visitor { visits } }' }, cookie)).body).toEqual({ data: { counter: 20, visitor: { visits: 20 } } });
    expect(counter.calls).toEqual({ getItem: 1 });
  });
});
