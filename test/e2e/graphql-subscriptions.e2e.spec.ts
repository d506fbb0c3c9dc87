import type { INestApplication } from '@nestjs/common';
import { createClient, type Client } from 'graphql-ws';
import request from 'supertest';
import WebSocket from 'ws';
import { APP_GUARD } from '@nestjs/core';
import { SessionStateModule } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { createTestApp, sessionCookie } from '../support/test-app.js';
import { GlobalAccessorGuard } from './fixtures/global-accessor.guard.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { CounterSubscriptionResolver, RequiredSubscriptionResolver } from './fixtures/graphql-subscription.resolver.js';
import { graphqlModule } from './graphql-app.js';

/** Runs one subscription to its end: its values, or its error's message. */
function subscribe(client: Client, query: string): Promise<{ values: unknown[]; error?: string }> {
  const values: unknown[] = [];
  return new Promise((resolve) => {
    client.subscribe(
      { query },
      {
        // An error at subscription start comes as a result with errors, then the end.
        next: (value) => (value.errors ? resolve({ values, error: value.errors.map((e) => e.message).join('; ') }) : values.push(value.data)),
        error: (error) =>
          resolve({ values, error: Array.isArray(error) ? error.map((e) => e.message).join('; ') : String((error as Error).message ?? error) }),
        complete: () => resolve({ values }),
      },
    );
  });
}

const SERVERS = [
  ['graphql-ws on Apollo, Express', 'express', { subscriptions: { 'graphql-ws': true } }],
  ['Mercurius, Fastify', 'fastify', { subscription: true }],
] as const;

describe.each(SERVERS)('GraphQL subscriptions over WebSocket (%s)', (_name, adapter, serverOptions) => {
  let app: INestApplication;
  let url: string;
  let counter: StoreCallCounter;
  const clients: Client[] = [];
  beforeAll(async () => {
    const counting = countingStore(new InMemorySessionStateStore());
    counter = counting.counter;
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store: counting.store, idHeader: 'x-session-id' }), graphqlModule(adapter, serverOptions)],
      controllers: [SessionTestController],
      providers: [{ provide: Gates, useValue: new Gates() }, CounterSubscriptionResolver],
    });
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    for (const client of clients.splice(0)) await client.dispose();
    await app.close();
  });

  /** A graphql-ws client whose handshake carries `cookie` (and `headers`). */
  function client(cookie?: string, headers: Record<string, string> = {}): Client {
    const c = createClient({
      url: `${url.replace('http', 'ws')}/graphql`,
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers: { ...(cookie ? { Cookie: cookie } : {}), ...headers } });
        }
      },
      retryAttempts: 0,
    });
    clients.push(c);
    return c;
  }

  it('a subscription reads a snapshot of its connection session: one read, no lock (and one read per event: has it ended?)', async () => {
    const cookie = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    await request(url).post('/count').set('Cookie', cookie).expect(200);
    counter.reset();
    expect(await subscribe(client(cookie), 'subscription { countSeen }')).toEqual({ values: [{ countSeen: 2 }] });
    expect(counter.calls).toEqual({ getItem: 1 + 1 });
  });

  it("with idHeader, the handshake's id header names the subscription's session (a native client's; it wins over the cookie)", async () => {
    const value = (await request(url).post('/count').set('x-session-id', '').expect(200)).headers['x-session-id'] as string;
    await request(url).post('/count').set('x-session-id', value).expect(200, { count: 2 });
    const cookie = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    expect(await subscribe(client(cookie, { 'x-session-id': value }), 'subscription { countSeen }')).toEqual({ values: [{ countSeen: 2 }] });
    expect(await subscribe(client(undefined, { 'x-session-id': 'forged' }), 'subscription { countSeen }')).toEqual({ values: [{ countSeen: 0 }] });
  });

  it('a subscription without a session cookie reads an empty session; one that uses none costs nothing', async () => {
    counter.reset();
    expect(await subscribe(client(), 'subscription { countSeen }')).toEqual({ values: [{ countSeen: 0 }] });
    expect(await subscribe(client(), 'subscription { free }')).toEqual({ values: [{ free: 1 }] });
    expect(counter.total()).toBe(0);
  });

  it('a subscription that writes gets a clear error, and nothing is stored', async () => {
    const cookie = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    counter.reset();
    const result = await subscribe(client(cookie), 'subscription { sneakyWrite }');
    expect(result.values).toEqual([]);
    expect(result.error).toMatch(/read-only snapshot.*Write to the session in a mutation/);
    expect(counter.calls).toEqual({ getItem: 1 });
    await request(url).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });
});

describe.each(SERVERS)('GraphQL subscriptions under a guard that loads the session (%s)', (_name, adapter, serverOptions) => {
  it('a global guard reading the session leaves a subscription a read-only snapshot: a write is refused, nothing locked or stored', async () => {
    const counting = countingStore(new InMemorySessionStateStore());
    const app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store: counting.store }), graphqlModule(adapter, serverOptions)],
      controllers: [SessionTestController],
      providers: [
        { provide: Gates, useValue: new Gates() },
        CounterSubscriptionResolver,
        GlobalAccessorGuard,
        { provide: APP_GUARD, useExisting: GlobalAccessorGuard },
      ],
    });
    await app.listen(0, '127.0.0.1');
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const cookie = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    const client = createClient({
      url: `${url.replace('http', 'ws')}/graphql`,
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers: { Cookie: cookie } });
        }
      },
      retryAttempts: 0,
    });
    try {
      counting.counter.reset();
      const result = await subscribe(client, 'subscription { sneakyWrite }');
      expect(result.error).toMatch(/read-only snapshot/);
      expect(counting.counter.calls).toEqual({ getItem: 1 });
      await request(url).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    } finally {
      await client.dispose();
      await app.close();
    }
  });
});

it('Required on a @Subscription() resolver is refused at startup, with what to do', async () => {
  await expect(
    createTestApp('express', { imports: [SessionStateModule.forRoot({}), graphqlModule('express')], providers: [RequiredSubscriptionResolver] }),
  ).rejects.toThrow(/RequiredSubscriptionResolver\.locked \(@Subscription\(\)\).*read-only snapshot/);
});
