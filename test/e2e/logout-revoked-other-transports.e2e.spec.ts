/**
 * A logout (`abandon()`) whose session is revoked (sign-out-everywhere, `SessionManager`) while it runs
 * answers as a logout, not 409 "lock lost": the lifecycle's rule (`removeEnded`), until now tested over
 * HTTP only (test/e2e/logout-after-stale-move, abandon-and-revoke), here over a socket.io gateway and
 * GraphQL on Apollo and Mercurius (review R18's checks, kept).
 */
import type { INestApplication } from '@nestjs/common';
import { Args, Mutation, Resolver } from '@nestjs/graphql';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateModule } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { GRAPHQL_SERVER, gql, startGraphQLApp, type GraphQLApp } from './graphql-app.js';
import { idOf } from './session-app.js';

@WebSocketGateway()
class LogoutGateway {
  constructor(private readonly gates: Gates) {}
  @SubscribeMessage('logout')
  async logout(@Session() session: HttpSessionState, @MessageBody() body: { gate: string }): Promise<string> {
    await this.gates.pass(body.gate);
    session.abandon();
    return 'signed out';
  }
}

@Resolver()
class LogoutResolver {
  constructor(private readonly gates: Gates) {}
  @Mutation(() => String)
  async logout(@Session() session: HttpSessionState, @Args('gate', { type: () => String }) gate: string): Promise<string> {
    await this.gates.pass(gate);
    session.abandon();
    return 'signed out';
  }
}

/** Gives the stored session an owner (as a login would), so that it can be revoked. */
async function signIn(store: SessionStateStore, id: string): Promise<void> {
  const lock = await store.getItemExclusive(id);
  if (lock.kind !== 'acquired') throw new Error(lock.kind);
  await store.setAndReleaseItemExclusive(id, { ...lock.item, owner: 'ann' }, lock.lockId, false);
}

describe('a WebSocket logout whose session is revoked while it runs', () => {
  let app: INestApplication | undefined;
  const gates = new Gates();
  afterEach(async () => {
    gates.openAll();
    await app?.close();
  });

  it('socket.io: abandon() in a message, the session revoked meanwhile: the message answers, no exception', async () => {
    const store = new InMemorySessionStateStore();
    app = await createTestApp(
      'express',
      {
        imports: [SessionStateModule.forRoot({ store })],
        controllers: [SessionTestController],
        providers: [{ provide: Gates, useValue: gates }, LogoutGateway],
      },
      (a) => a.useWebSocketAdapter(new IoAdapter(a)),
    );
    await app.listen(0, '127.0.0.1');
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const cookie = sessionCookie((await request(url).post('/seed').expect(200)).headers)!;
    await signIn(store, idOf(cookie));
    const socket: Socket = io(url, { transports: ['websocket'], extraHeaders: { Cookie: cookie }, forceNew: true });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const exceptions: unknown[] = [];
    socket.on('exception', (e) => exceptions.push(e));
    try {
      const answer = socket
        .timeout(5000)
        .emitWithAck('logout', { gate: 'ws-revoked' })
        .catch((e: Error) => e.message);
      await gates.arrived('ws-revoked');
      expect(await store.revokeItem!(idOf(cookie), 'ann')).toBe(true);
      gates.open('ws-revoked');
      expect({ answer: await answer, exceptions }).toEqual({ answer: 'signed out', exceptions: [] });
    } finally {
      socket.close();
    }
  });
});

describe.each(ADAPTERS)('a GraphQL logout whose session is revoked while it runs, over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  let g: GraphQLApp;
  beforeAll(async () => {
    g = await startGraphQLApp(adapter, {}, [LogoutResolver]);
  });
  afterAll(async () => {
    g.gates.openAll();
    await g.app.close();
  });

  it(`(${server}) answers as a logout (200, data), not 409`, async () => {
    const cookie = sessionCookie((await gql(g.http, { query: 'mutation { increment }' })).headers)!;
    await signIn(g.store, idOf(cookie));
    const held = gql(g.http, { query: 'mutation { logout(gate: "gql-revoked") }' }, cookie).then((r) => r);
    await g.gates.arrived('gql-revoked');
    expect(await g.store.revokeItem!(idOf(cookie), 'ann')).toBe(true);
    g.gates.open('gql-revoked');
    const answer = await held;
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { data: { logout: 'signed out' } } });
  });
});
