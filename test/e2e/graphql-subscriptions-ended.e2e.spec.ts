import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { INestApplication } from '@nestjs/common';
import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import request from 'supertest';
import WebSocket from 'ws';
import {
  SessionRevoker,
  SessionStateModule,
  SessionStateStoreUnavailableError,
  type SessionStateModuleOptions,
  type SessionStateStore,
} from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { countingStore } from '../support/counting-store.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { Gates } from '../support/gates.js';
import { createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { OwnerSessionsController } from './fixtures/owner-sessions.controller.js';
import { Ticks, TicksResolver } from './fixtures/graphql-ticks.resolver.js';
import { graphqlModule } from './graphql-app.js';
import { idOf } from './session-app.js';

/*
 * Issue 20 on GraphQL subscriptions: a subscription of a session that ended (revoked by SessionManager
 * or SessionRevoker, past absoluteTimeout) is refused at subscribe and ended at its next event with
 * `extensions.code` SESSION_STATE_410; other sessions' subscriptions go on. Real servers (Apollo over
 * graphql-ws on Express, Mercurius on Fastify), a real graphql-ws client, two instances on one store
 * (the memory store, DynamoDB Local): the subscription lives on one, the revocation happens on the other.
 */

const SERVERS = [
  ['graphql-ws on Apollo, Express', 'express', { subscriptions: { 'graphql-ws': true } }],
  ['Mercurius, Fastify', 'fastify', { subscription: true }],
] as const;

const ENDED = { message: expect.stringMatching(/has ended.*Sign in again/), extensions: { code: 'SESSION_STATE_410' } };

interface StoreKind {
  name: string;
  /** A store per instance, all on one backend. */
  backend(): Promise<() => SessionStateStore>;
}

const tables: string[] = [];
afterAll(async () => {
  await Promise.all(tables.map((t) => deleteTable(t)));
});

const STORES: StoreKind[] = [
  {
    name: 'memory',
    backend: async () => {
      const store = new InMemorySessionStateStore();
      return () => store;
    },
  },
  {
    name: 'DynamoDB Local',
    backend: async () => {
      const tableName = uniqueTableName('ended-subs');
      tables.push(tableName);
      const clientConfig = await localClientConfig();
      return () => new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig });
    },
  },
];

interface Instance {
  app: INestApplication;
  url: string;
  ticks: Ticks;
  store: SessionStateStore;
}

type FormattedError = { message: string; extensions?: Record<string, unknown> };
type Message = { next: FormattedExecutionResult<Record<string, number>, unknown> } | { error: unknown } | { complete: true };

/**
 * A subscription's messages, read one at a time in the order they came. (graphql-ws's own
 * `iterate()` never sees an `error` or `complete` that arrives while its reader is not waiting.)
 */
class Feed {
  private readonly messages: Message[] = [];
  private waiting: (() => void) | undefined;
  readonly dispose: () => void;

  constructor(
    client: Client,
    readonly field: 'ticks' | 'publicTicks' = 'ticks',
  ) {
    const push = (message: Message) => (this.messages.push(message), this.waiting?.());
    this.dispose = client.subscribe<Record<string, number>>(
      { query: `subscription { ${field} }` },
      { next: (value) => push({ next: value }), error: (error) => push({ error }), complete: () => push({ complete: true }) },
    );
  }

  async read(): Promise<Message> {
    while (this.messages.length === 0) await new Promise<void>((resolve) => (this.waiting = resolve));
    return this.messages.shift()!;
  }
}

/** Resolves once `count` subscriptions' streams have opened. */
function opens(ticks: Ticks, count: number): Promise<void> {
  return new Promise((resolve) => {
    let left = count;
    const opened = () => {
      if (--left > 0) return;
      ticks.streams.off('opened', opened);
      resolve();
    };
    ticks.streams.on('opened', opened);
  });
}

/** The next tick a subscription receives. */
async function nextTick(feed: Feed): Promise<number> {
  const message = await feed.read();
  if (!('next' in message) || message.next.errors) throw new Error(`expected a tick, got ${JSON.stringify(message)}`);
  return message.next.data![feed.field]!;
}

/**
 * The errors that ended a subscription, once it has ended: an `error` message, or, for a refusal at
 * subscribe on graphql-ws, a result with errors followed by `complete`.
 */
async function endingErrors(feed: Feed): Promise<readonly FormattedError[]> {
  const message = await feed.read();
  if ('error' in message && Array.isArray(message.error)) return message.error as FormattedError[];
  if ('next' in message && message.next.errors) {
    expect(await feed.read()).toEqual({ complete: true });
    return message.next.errors;
  }
  throw new Error(`expected the subscription's end with errors, got ${JSON.stringify(message)}`);
}

describe.each(STORES)('GraphQL subscriptions of ended sessions on $name', (kind) => {
  describe.each(SERVERS)('%s', (_name, adapter: AdapterName, serverOptions) => {
    const instances: Instance[] = [];
    const clients: Client[] = [];
    let newStore: () => SessionStateStore;
    let users: Record<'alice' | 'bob', string>;

    beforeAll(async () => {
      newStore = await kind.backend();
    });
    beforeEach(() => {
      const run = randomBytes(4).toString('hex');
      users = { alice: `alice-${run}`, bob: `bob-${run}` };
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) await c.dispose();
      await Promise.all(instances.splice(0).map((i) => i.app.close()));
    });

    async function instance(options: SessionStateModuleOptions = {}): Promise<Instance> {
      const store = newStore();
      const ticks = new Ticks();
      const app = await createTestApp(adapter, {
        imports: [SessionStateModule.forRoot({ store, ...options }), graphqlModule(adapter, serverOptions)],
        controllers: [OwnerSessionsController],
        providers: [{ provide: Gates, useValue: new Gates() }, { provide: Ticks, useValue: ticks }, TicksResolver],
      });
      await app.listen(0, '127.0.0.1');
      const started = { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1'), ticks, store };
      instances.push(started);
      return started;
    }

    async function login(on: Instance, user: 'alice' | 'bob', cookie?: string): Promise<{ cookie: string; handle: string }> {
      const req = request(on.url).post(`/login/${users[user]}`);
      if (cookie) req.set('Cookie', cookie);
      const res = await req.expect(200);
      return { cookie: sessionCookie(res.headers)!, handle: res.body.handle };
    }

    /** A graphql-ws client whose handshake carries `cookie`. */
    function client(on: Instance, cookie: string): Client {
      const c = createClient({
        url: `${on.url.replace('http', 'ws')}/graphql`,
        webSocketImpl: class extends WebSocket {
          constructor(address: string, protocols?: string | string[]) {
            super(address, protocols, { headers: { Cookie: cookie } });
          }
        },
        retryAttempts: 0,
      });
      clients.push(c);
      return c;
    }

    /** A subscription of `ticks` with that cookie, once its resolver started streaming (a tick published after that reaches it). */
    async function subscribe(on: Instance, cookie: string): Promise<Feed> {
      const opened = once(on.ticks.streams, 'opened');
      const feed = new Feed(client(on, cookie));
      await opened;
      return feed;
    }

    it('revoked from another instance while subscribed: the next event ends it with SESSION_STATE_410 (its stream closed); others go on; signing in again subscribes', async () => {
      const [one, two] = [await instance(), await instance()];
      const laptop = await login(one, 'alice');
      const phone = await login(two, 'alice');
      const bob = await login(two, 'bob');
      const feeds = { phone: await subscribe(two, phone.cookie), laptop: await subscribe(two, laptop.cookie), bob: await subscribe(two, bob.cookie) };
      two.ticks.publish(1);
      for (const feed of Object.values(feeds)) expect(await nextTick(feed)).toBe(1);

      await request(one.url).delete(`/sessions/${phone.handle}`).set('Cookie', laptop.cookie).expect(204);
      const closed = once(two.ticks.streams, 'closed');
      two.ticks.publish(2);
      expect(await endingErrors(feeds.phone)).toEqual([ENDED]);
      expect(await closed).toEqual([users.alice]); // the phone's stream, closed on the server
      expect(two.ticks.source.listenerCount('tick')).toBe(2);
      expect(await nextTick(feeds.laptop)).toBe(2); // the same user's session that was not revoked
      expect(await nextTick(feeds.bob)).toBe(2);

      // A new subscription of the revoked session is refused; signing in again gives one that streams.
      expect(await endingErrors(new Feed(client(two, phone.cookie)))).toEqual([expect.objectContaining(ENDED)]);
      const again = await login(two, 'alice', phone.cookie);
      expect(idOf(again.cookie)).not.toBe(idOf(phone.cookie));
      const renewed = await subscribe(two, again.cookie);
      two.ticks.publish(3);
      expect(await nextTick(renewed)).toBe(3);
      expect(await nextTick(feeds.laptop)).toBe(3);
      expect(await nextTick(feeds.bob)).toBe(3);
    });

    it('on one connection, a subscription that uses no session goes on after the session ended', async () => {
      const [one, two] = [await instance(), await instance()];
      const laptop = await login(one, 'alice');
      const phone = await login(two, 'alice');
      const connection = client(two, phone.cookie);
      const opened = opens(two.ticks, 2);
      const [session, free] = [new Feed(connection), new Feed(connection, 'publicTicks')];
      await opened;
      await request(one.url).delete(`/sessions/${phone.handle}`).set('Cookie', laptop.cookie).expect(204);
      two.ticks.publish(1);
      expect(await endingErrors(session)).toEqual([ENDED]);
      expect(await nextTick(free)).toBe(1);
      two.ticks.publish(2);
      expect(await nextTick(free)).toBe(2);
    });

    it("SessionRevoker.revokeOwner and SessionManager.revokeOthers end the revoked sessions' subscriptions at their next event", async () => {
      const [one, two] = [await instance(), await instance()];
      const laptop = await login(one, 'alice');
      const phone = await login(two, 'alice');
      const bob = await login(one, 'bob');
      const bobTablet = await login(two, 'bob');
      const [laptopFeed, phoneFeed, bobFeed, bobTabletFeed] = [
        await subscribe(two, laptop.cookie),
        await subscribe(two, phone.cookie),
        await subscribe(two, bob.cookie),
        await subscribe(two, bobTablet.cookie),
      ];

      await request(one.url).post('/sessions/sign-out-others').set('Cookie', bob.cookie).expect(200, { revoked: 1 });
      expect(await one.app.get(SessionRevoker).revokeOwner(users.alice)).toBe(2);
      two.ticks.publish(1);
      expect(await endingErrors(laptopFeed)).toEqual([ENDED]);
      expect(await endingErrors(phoneFeed)).toEqual([ENDED]);
      expect(await endingErrors(bobTabletFeed)).toEqual([ENDED]);
      expect(await nextTick(bobFeed)).toBe(1);
      two.ticks.publish(2);
      expect(await nextTick(bobFeed)).toBe(2);
    });

    it('past absoluteTimeout while subscribed: ended at the next event; a new subscription is refused', async () => {
      const one = await instance({ absoluteTimeout: 60 });
      const [old, young] = [await login(one, 'alice'), await login(one, 'alice')];
      const [oldFeed, youngFeed] = [await subscribe(one, old.cookie), await subscribe(one, young.cookie)];
      // The old session's creation moved back in time, as the store keeps it (what an hour of streaming would do).
      const id = idOf(old.cookie);
      const lock = await one.store.getItemExclusive(id);
      if (lock.kind !== 'acquired') throw new Error(`expected the lock, got ${lock.kind}`);
      await one.store.setAndReleaseItemExclusive(id, { ...lock.item, created: Date.now() - 61 * 60_000 }, lock.lockId, false);
      one.ticks.publish(1);
      expect(await endingErrors(oldFeed)).toEqual([ENDED]);
      expect(await nextTick(youngFeed)).toBe(1);
      expect(await endingErrors(new Feed(client(one, old.cookie)))).toEqual([expect.objectContaining(ENDED)]);
    });
  });
});

describe.each(SERVERS)('checking a subscription on the memory store (%s)', (_name, adapter, serverOptions) => {
  const memory = new InMemorySessionStateStore();
  const { store, counter } = countingStore(memory);
  const ticks = new Ticks();
  let app: INestApplication;
  let url: string;
  const clients: Client[] = [];
  beforeAll(async () => {
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store }), graphqlModule(adapter, serverOptions)],
      controllers: [OwnerSessionsController],
      providers: [{ provide: Gates, useValue: new Gates() }, { provide: Ticks, useValue: ticks }, TicksResolver],
    });
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterEach(async () => {
    delete (memory as Partial<InMemorySessionStateStore>).getItem; // the store's own method again
    for (const c of clients.splice(0)) await c.dispose();
  });
  afterAll(() => app.close());

  /** A subscription of `ticks` (with that cookie), once it streams. */
  async function subscribe(cookie: string | undefined): Promise<Feed> {
    const client = createClient({
      url: `${url.replace('http', 'ws')}/graphql`,
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers: cookie ? { Cookie: cookie } : {} });
        }
      },
      retryAttempts: 0,
    });
    clients.push(client);
    const opened = once(ticks.streams, 'opened');
    const feed = new Feed(client);
    await opened;
    return feed;
  }

  it('costs one getItem per event of a stored session; none without a stored session', async () => {
    const cookie = sessionCookie((await request(url).post('/login/carol').expect(200)).headers)!;
    for (const [withCookie, calls] of [
      [cookie, { getItem: 1 + 3 }], // the snapshot, then one read per event
      [undefined, {}], // no cookie: an empty session, nothing that could end
    ] as const) {
      counter.reset();
      const feed = await subscribe(withCookie);
      for (const n of [1, 2, 3]) {
        ticks.publish(n);
        expect(await nextTick(feed)).toBe(n);
      }
      expect(counter.calls).toEqual(calls);
      feed.dispose();
    }
  });

  it('a store failure at an event ends the subscription with SESSION_STATE_503 (never an event it cannot vouch for); resubscribing works', async () => {
    const cookie = sessionCookie((await request(url).post('/login/dave').expect(200)).headers)!;
    const feed = await subscribe(cookie);
    // A fault the real memory store cannot produce: its reads fail from here.
    memory.getItem = () => Promise.reject(new SessionStateStoreUnavailableError('the store is down'));
    const closed = once(ticks.streams, 'closed');
    ticks.publish(1);
    expect(await endingErrors(feed)).toEqual([{ message: 'Session state is unavailable; try again.', extensions: { code: 'SESSION_STATE_503' } }]);
    await closed;
    delete (memory as Partial<InMemorySessionStateStore>).getItem;
    const again = await subscribe(cookie);
    ticks.publish(2);
    expect(await nextTick(again)).toBe(2);
  });
});
