import request from 'supertest';
import { SessionStateStoreUnavailableError } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { GRAPHQL_SERVER, gql, startGraphQLApp, type GraphQLApp } from './graphql-app.js';

/**
 * A read-only request (a GraphQL query, an HTTP route) whose session's stored expiry slides at its end
 * (less than half the timeout left) and whose `resetItemTimeout` fails (a store blip): it read the
 * session and changed nothing, so nothing of it is lost, and it keeps its answer. The slide is logged
 * and skipped, as a failed read before a cookie renewal is (found by review R6: it answered 503, and on
 * GraphQL without its data).
 */
describe.each(ADAPTERS)('a read-only request whose expiry slide fails, over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  let offset = 0;
  let failRefresh = false;
  let refreshes = 0;
  class BlipStore extends InMemorySessionStateStore {
    override async resetItemTimeout(id: string): Promise<void> {
      refreshes++;
      if (failRefresh) throw new SessionStateStoreUnavailableError('store blip (test)');
      return super.resetItemTimeout(id);
    }
  }
  let g: GraphQLApp;
  beforeAll(async () => {
    g = await startGraphQLApp(adapter, { store: new BlipStore({ clock: () => Date.now() + offset }) });
  });
  afterAll(() => g.app.close());

  async function agedSession(): Promise<string> {
    // Seeded 11 minutes ago by the store's clock (the lifecycle reads Date.now): 9 of its 20 minutes are left.
    offset = -11 * 60_000;
    failRefresh = false;
    const res = await gql(g.http, { query: 'mutation { increment }' });
    expect(res.body).toEqual({ data: { increment: 1 } });
    // Less than half the timeout is left, so a read-only request slides the expiry (resetItemTimeout).
    offset = 0;
    failRefresh = true;
    return sessionCookie(res.headers)!;
  }

  it(`(${server}) the query's answer keeps its data and a 2xx: nothing it did was lost`, async () => {
    const cookie = await agedSession();
    refreshes = 0;
    const res = await gql(g.http, { query: '{ counter }' }, cookie);
    expect(refreshes).toBe(1); // the refresh was tried, and failed
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { data: { counter: 1 } } });
  });

  it(`(${server}) the HTTP read-only route in the same case keeps its 2xx too`, async () => {
    const cookie = await agedSession();
    refreshes = 0;
    const res = await request(g.http as never)
      .get('/count')
      .set('Cookie', cookie);
    expect(refreshes).toBe(1);
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { count: 1 } });
  });
});
