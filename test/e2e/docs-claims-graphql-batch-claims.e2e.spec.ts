import { setImmediate as turn } from 'node:timers/promises';
import { SessionStateStoreUnavailableError, SessionStateTooLargeError } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStoreData } from '../../src/store/session-state-store.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { GRAPHQL_SERVER, gql, startGraphQLApp, type GraphQLApp } from './graphql-app.js';

/*
 * docs/TRANSPORTS.md's claims on GraphQL batches (lines 62-80, 126-128), against real
 * Apollo (Express) and Mercurius (Fastify) servers.
 */

/** Reads fail as an unreachable store's do. */
class UnreachableStore extends InMemorySessionStateStore {
  override async getItem(): Promise<never> {
    throw new SessionStateStoreUnavailableError('store down (test)');
  }
  override async getItemExclusive(): Promise<never> {
    throw new SessionStateStoreUnavailableError('store down (test)');
  }
}

/** Saves of a session whose data holds `huge` are refused as too large (the fault a real store gives past its limit). */
class TooLargeStore extends InMemorySessionStateStore {
  override async setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    if (this.refuse) throw new SessionStateTooLargeError(2_000_000, 1_000_000);
    return super.setAndReleaseItemExclusive(id, item, lockId, newItem);
  }
  refuse = false;
}

const codes = (op: { errors?: { extensions?: { code?: string } }[] }) => (op.errors ?? []).map((e) => e.extensions?.code);

describe.each(ADAPTERS)('TRANSPORTS.md: a batch whose session cannot be had, over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  let g: GraphQLApp;
  beforeAll(async () => {
    g = await startGraphQLApp(adapter, { store: new UnreachableStore() });
  });
  afterAll(() => g.app.close());

  // TRANSPORTS.md:71-73: "every operation of the batch fails with that error, those that use no session too;
  // Apollo answers the error's status, Mercurius 200".
  it(`(${server}) every operation fails with SESSION_STATE_503, the one that uses no session too; status as documented`, async () => {
    const res = await gql(g.http, [{ query: '{ ping }' }, { query: '{ counter }' }], `sid=${'A'.repeat(32)}`);
    expect(res.status).toBe(server === 'Apollo' ? 503 : 200);
    expect(res.body).toHaveLength(2);
    expect(res.body.map(codes)).toEqual([['SESSION_STATE_503'], ['SESSION_STATE_503']]);
  });
});

describe.each(ADAPTERS)('TRANSPORTS.md: batches and their session changes, over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  let g: GraphQLApp;
  let store: TooLargeStore;
  beforeAll(async () => {
    store = new TooLargeStore();
    g = await startGraphQLApp(adapter, { store });
  });
  afterAll(() => g.app.close());
  afterEach(() => {
    store.refuse = false;
  });

  async function seeded(): Promise<string> {
    const res = await gql(g.http, { query: 'mutation { increment }' });
    expect(res.body).toEqual({ data: { increment: 1 } });
    return sessionCookie(res.headers)!;
  }
  const counterOf = async (cookie: string) => (await gql(g.http, { query: '{ counter }' }, cookie)).body.data.counter;

  // TRANSPORTS.md:77-80: a save that fails after the resolvers ran: that status on Apollo and Mercurius
  // (in a Mercurius batch, the whole answer's), data: null, never values that show unsaved changes.
  it(`(${server}) a batch whose save is refused as too large answers 413, and no operation shows the unsaved value`, async () => {
    const cookie = await seeded();
    store.refuse = true;
    const res = await gql(g.http, [{ query: 'mutation { increment }' }, { query: '{ ping }' }], cookie);
    expect(res.status).toBe(413);
    const shown = JSON.stringify(res.body);
    expect(shown).not.toMatch(/"increment":2/);
    store.refuse = false;
    expect(await counterOf(cookie)).toBe(1);
  });

  // TRANSPORTS.md:66-70 and 127-128: one piece that fails validation discards the changes of every operation of the batch.
  it(`(${server}) a batch with an operation that fails validation saves nothing; its valid operations still answer`, async () => {
    const cookie = await seeded();
    // The valid operation parked until the invalid one was answered (one turn of the event loop: its
    // answer is promises only), so that the valid one answers last.
    const sent = gql(g.http, [{ query: 'mutation { increment(gate: "valid") }' }, { query: '{ noSuchField }' }], cookie).then((r) => r);
    await g.gates.arrived('valid');
    await turn();
    g.gates.open('valid');
    const res = await sent;
    expect(res.body[0].data).toEqual({ increment: 2 });
    // Apollo marks it as not saved; Mercurius discards the batch at its answer (the invalid operation
    // never reaches its hooks), with no answer left to mark.
    expect(codes(res.body[0])).toEqual(server === 'Apollo' ? ['SESSION_STATE_NOT_SAVED'] : []);
    expect(res.body[1].errors?.length).toBeGreaterThan(0);
    expect(await counterOf(cookie)).toBe(1);
  });
});
