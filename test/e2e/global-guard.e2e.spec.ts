import type { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { io } from 'socket.io-client';
import request from 'supertest';
import { SessionStateModule } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { CounterGateway } from './fixtures/counter.gateway.js';
import { GlobalAccessorGuard } from './fixtures/global-accessor.guard.js';
import { AccessorGuard, CounterResolver, ProfileResolver } from './fixtures/graphql-counter.resolver.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { gql, graphqlModule } from './graphql-app.js';

describe.each(ADAPTERS)('a global guard that calls SessionStateAccessor, on every transport, over %s', (adapter) => {
  let app: INestApplication;
  let url: string;
  let guard: GlobalAccessorGuard;
  beforeAll(async () => {
    app = await createTestApp(
      adapter,
      {
        imports: [SessionStateModule.forRoot({}), graphqlModule(adapter)],
        controllers: [SessionTestController],
        providers: [
          { provide: Gates, useValue: new Gates() },
          GlobalAccessorGuard,
          { provide: APP_GUARD, useExisting: GlobalAccessorGuard },
          CounterResolver,
          ProfileResolver,
          AccessorGuard,
          CounterGateway,
        ],
      },
      (app) => app.useWebSocketAdapter(new IoAdapter(app)),
    );
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    guard = app.get(GlobalAccessorGuard);
  });
  afterAll(() => app.close());

  it('works on HTTP, GraphQL and WebSocket handlers of one session, and the counts add up', async () => {
    const cookie = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    await request(url).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect((await gql(url, { query: 'mutation { increment }' }, cookie)).body).toEqual({ data: { increment: 2 } });
    expect((await gql(url, { query: '{ counter ping }' }, cookie)).body).toEqual({ data: { counter: 2, ping: 'pong' } });
    expect((await gql(url, [{ query: '{ ping }' }, { query: 'mutation { increment }' }], cookie)).body).toEqual([
      { data: { ping: 'pong' } },
      { data: { increment: 3 } },
    ]);
    const socket = io(url, { transports: ['websocket'], extraHeaders: { Cookie: cookie }, forceNew: true });
    try {
      expect(await socket.timeout(5000).emitWithAck('increment', {})).toBe(4);
      expect(await socket.timeout(5000).emitWithAck('counter', {})).toBe(4);
    } finally {
      socket.close();
    }
    await request(url).get('/count').set('Cookie', cookie).expect(200, { count: 4 });
    // Without a session: the guard reads an empty one on each transport; nothing breaks.
    await request(url).get('/free').expect(200);
    expect((await gql(url, { query: '{ ping }' })).body).toEqual({ data: { ping: 'pong' } });
    // Once per HTTP handler, root resolver and message, each with the count it ran on.
    expect([...guard.seen].sort()).toEqual(
      ['http:0', 'http:1', 'graphql:1', 'graphql:2', 'graphql:2', 'graphql:2', 'graphql:2', 'ws:3', 'ws:4', 'http:4', 'http:0', 'graphql:0'].sort(),
    );
  });
});
