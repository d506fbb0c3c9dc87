/**
 * One store object shared by several applications: `forRoot({ store: new XStore(...) })` in a static
 * AppModule makes the store once, and every application built from that module uses it (an e2e
 * suite's application per test; two applications at once). The first `app.close()` must not close
 * it for the others: the last application using it closes it, and the next one opens it again.
 */
import { Controller, Post } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createClient } from 'redis';
import request from 'supertest';
import { HttpSessionState, InMemorySessionStateStore, Session, SessionStateModule, type SessionStateStore } from 'nestjs-session-state';
import { DynamoDBSessionStateStore } from 'nestjs-session-state/dynamodb';
import { RedisSessionStateStore } from 'nestjs-session-state/redis';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';

@Controller('counter')
class CounterController {
  @Post()
  increment(@Session() session: HttpSessionState) {
    const count = ((session.get('count') as number | undefined) ?? 0) + 1;
    session.set('count', count);
    return { count };
  }
}

const table = await useDynamoDBTable('shared-store');
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(() => redis.stop());

/** What a test closes after itself: the store when the test made its client, then that client. */
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const stores: Record<string, () => Promise<SessionStateStore>> = {
  'Redis { url }': async () => {
    const store = new RedisSessionStateStore({ url: redis.url });
    closers.push(() => store.close());
    return store;
  },
  'Redis { client }': async () => {
    const client = createClient({ url: redis.url });
    await client.connect();
    const store = new RedisSessionStateStore({ client });
    closers.push(
      () => client.destroy(),
      () => store.close(),
    );
    return store;
  },
  'DynamoDB { clientConfig }': async () => table.createStore(),
  'DynamoDB { client }': async () => {
    const client = new DynamoDBClient({ ...table.clientConfig });
    closers.push(() => client.destroy());
    return new DynamoDBSessionStateStore({ client, tableName: table.tableName });
  },
  'in memory': async () => new InMemorySessionStateStore(),
};

function app(store: SessionStateStore, adapter: AdapterName = 'express') {
  return createTestApp(adapter, { imports: [SessionStateModule.forRoot({ store })], controllers: [CounterController] });
}

async function count(server: Parameters<typeof request>[0], cookie?: string) {
  const call = request(server).post('/counter');
  const answer = await (cookie ? call.set('Cookie', cookie) : call);
  return { status: answer.status, body: answer.body as unknown, cookie: sessionCookie(answer.headers) ?? cookie };
}

describe.each(Object.keys(stores))('%s, shared by the applications of one module', (kind) => {
  it('serves the sessions of an application created after another one closed', async () => {
    const store = await stores[kind]!();
    const first = await app(store);
    const { cookie } = await count(first.getHttpServer());
    await first.close();

    const second = await app(store);
    try {
      expect(await count(second.getHttpServer(), cookie)).toMatchObject({ status: 201, body: { count: 2 } });
    } finally {
      await second.close();
    }
  });

  it('keeps serving an application when a compiled-only testing module of the same module is closed (it never opened the store; review R20)', async () => {
    const store = await stores[kind]!();
    const running = await app(store);
    try {
      const { cookie } = await count(running.getHttpServer());
      const compiledOnly = await Test.createTestingModule({
        imports: [SessionStateModule.forRoot({ store })],
        controllers: [CounterController],
      }).compile();
      await compiledOnly.close();
      expect(await count(running.getHttpServer(), cookie)).toMatchObject({ status: 201, body: { count: 2 } });
    } finally {
      await running.close();
    }
  });

  it('keeps serving one application when another one using it at once closes', async () => {
    const store = await stores[kind]!();
    const [a, b] = await Promise.all([app(store, 'express'), app(store, 'fastify')]);
    try {
      const { cookie } = await count(a.getHttpServer());
      await a.close();
      expect(await count(b.getHttpServer(), cookie)).toMatchObject({ status: 201, body: { count: 2 } });
    } finally {
      await b.close();
    }
  });
});

describe('in-memory store shared by applications: its sweep (the session-end events)', () => {
  function sweepingStore() {
    const clock = { now: Date.now() };
    const store = new InMemorySessionStateStore({ sweepIntervalMs: 20, clock: () => clock.now });
    const ended: string[] = [];
    store.setItemExpireCallback((id) => ended.push(id));
    const sweepingApp = (adapter?: AdapterName) =>
      createTestApp(adapter ?? 'express', { imports: [SessionStateModule.forRoot({ store, timeout: 1 })], controllers: [CounterController] });
    return { clock, ended, sweepingApp };
  }

  it('sweeps again for an application created after another one closed', async () => {
    const { clock, ended, sweepingApp } = sweepingStore();
    await (await sweepingApp()).close();
    const second = await sweepingApp();
    try {
      await request(second.getHttpServer()).post('/counter').expect(201);
      clock.now += 2 * 60_000; // past its 1-minute timeout
      await vi.waitFor(() => expect(ended).toHaveLength(1), { timeout: 2000 });
    } finally {
      await second.close();
    }
  });

  it('keeps sweeping for one application when another one using it at once closes', async () => {
    const { clock, ended, sweepingApp } = sweepingStore();
    const [a, b] = await Promise.all([sweepingApp('express'), sweepingApp('fastify')]);
    try {
      await request(b.getHttpServer()).post('/counter').expect(201);
      await a.close();
      clock.now += 2 * 60_000;
      await vi.waitFor(() => expect(ended).toHaveLength(1), { timeout: 2000 });
    } finally {
      await b.close();
    }
  });
});

/** How the second application of a store starts: after the first closed, or while it shuts down (review R20). */
const SECOND_STARTS = {
  'after another one closed': async (store: SessionStateStore) => {
    await (await app(store)).close();
    return app(store);
  },
  'while another one shuts down': async (store: SessionStateStore) => {
    const first = await app(store);
    const [, second] = await Promise.all([first.close(), app(store)]);
    return second;
  },
};

describe.each(['url', 'client'] as const)('Redis { %s } shared by applications: its owner sweep', (made) => {
  it.each(Object.keys(SECOND_STARTS) as (keyof typeof SECOND_STARTS)[])(
    'sweeps the owner indexes for an application that starts %s',
    async (when) => {
      let offset = 0;
      const options = { clock: () => Date.now() + offset, ownerSweep: { intervalMs: 1_000 } };
      const admin = createClient({ url: redis.url });
      await admin.connect();
      closers.push(() => admin.destroy());
      const store = new RedisSessionStateStore(made === 'url' ? { url: redis.url, ...options } : { client: admin, ...options });
      closers.push(() => store.close());
      const second = await SECOND_STARTS[when](store);
      try {
        const owner = `owner-${made}-${when.split(' ')[0]}`;
        await store.setAndReleaseItemExclusive(generateSessionId(), { items: '{}', timeout: 1, owner }, null, true);
        expect(await admin.exists(`sess:owner:{${owner}}`)).toBe(1);
        offset = 3 * 60_000 + 2_000; // the session and its index entry are past any use
        await vi.waitFor(async () => expect(await admin.exists(`sess:owner:{${owner}}`)).toBe(0), { timeout: 5_000, interval: 50 });
      } finally {
        await second.close();
      }
    },
  );
});
