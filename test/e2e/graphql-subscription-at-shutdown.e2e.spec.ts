/**
 * TRANSPORTS.md: what shutdown does to an open GraphQL subscription of a session (over WebSocket:
 * graphql-ws on Apollo with Express, Mercurius on Fastify). Unlike an @Sse() stream (see
 * sse-stream-ends-at-shutdown.e2e.spec.ts), the GraphQL server's own shutdown closes its WebSocket
 * connections: app.close() ends promptly, and the client learns that its subscription ended.
 */
import { once } from 'node:events';
import type { INestApplication } from '@nestjs/common';
import { createClient, type Client } from 'graphql-ws';
import request from 'supertest';
import WebSocket from 'ws';
import { SessionStateModule } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { Gates } from '../support/gates.js';
import { createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { OwnerSessionsController } from './fixtures/owner-sessions.controller.js';
import { Ticks, TicksResolver } from './fixtures/graphql-ticks.resolver.js';
import { graphqlModule } from './graphql-app.js';

const SERVERS = [
  ['graphql-ws on Apollo, Express', 'express', { subscriptions: { 'graphql-ws': true } }],
  ['Mercurius, Fastify', 'fastify', { subscription: true }],
] as const;

describe.each(SERVERS)('app.close() with a session GraphQL subscription open, %s', (_name, adapter: AdapterName, serverOptions) => {
  let app: INestApplication | undefined;
  let client: Client | undefined;
  afterEach(async () => {
    await client?.dispose();
    await app?.close();
    app = client = undefined;
  });

  it('ends promptly, and the client sees its subscription end', async () => {
    const ticks = new Ticks();
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), executionTimeout: 60 }), graphqlModule(adapter, serverOptions)],
      controllers: [OwnerSessionsController],
      providers: [{ provide: Gates, useValue: new Gates() }, { provide: Ticks, useValue: ticks }, TicksResolver],
    });
    await app.listen(0, '127.0.0.1');
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const cookie = sessionCookie((await request(url).post('/login/alice-shutdown').expect(200)).headers)!;
    client = createClient({
      url: `${url.replace('http', 'ws')}/graphql`,
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers: { Cookie: cookie } });
        }
      },
      retryAttempts: 0,
      lazyCloseTimeout: 0,
    });
    const opened = once(ticks.streams, 'opened');
    const ended = new Promise<string>((resolve) => {
      client!.subscribe({ query: 'subscription { ticks }' }, { next: () => {}, error: () => resolve('error'), complete: () => resolve('complete') });
    });
    await opened;
    const closing = app.close().then(() => 'closed');
    app = undefined;
    const timeUp = (what: string) => new Promise((resolve) => setTimeout(() => resolve(`${what} after 3 s`), 3_000));
    expect(await Promise.race([closing, timeUp('app.close() still running')])).toBe('closed');
    expect(['error', 'complete']).toContain(await Promise.race([ended, timeUp('subscription still open')]));
  });
});
