/**
 * A WebSocket connection whose handshake cookie names a session that a login (over HTTP) has since
 * moved: its messages are refused as on a connection whose session ended (today's answer, kept),
 * also while the store keeps the moved session's marker. Its cookie names the old id for good, so a
 * retry on the same connection could never reach the session: the client must reconnect (with the
 * login's cookie), which the ended answer says; the marker's 409 ("retry") would send it round again.
 */
import type { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateModule } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { CounterGateway } from './fixtures/counter.gateway.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { idOf } from './session-app.js';

describe.each(ADAPTERS)('a WebSocket connection after a login moved its session (%s)', (adapter) => {
  let app: INestApplication;
  let url: string;
  let socket: Socket | undefined;
  const store = new InMemorySessionStateStore();

  beforeAll(async () => {
    app = await createTestApp(
      adapter,
      {
        imports: [SessionStateModule.forRoot({ store })],
        controllers: [SessionTestController],
        providers: [{ provide: Gates, useValue: new Gates() }, CounterGateway],
      },
      (nest) => nest.useWebSocketAdapter(new IoAdapter(nest)),
    );
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterEach(() => socket?.close());
  afterAll(() => app.close());

  it('read-write and read-only messages get the ended answer (reconnect), not a new session; the login stands', async () => {
    const old = sessionCookie((await request(url).post('/seed').expect(200)).headers)!;
    socket = io(url, { transports: ['websocket'], extraHeaders: { Cookie: old }, forceNew: true });
    await new Promise<void>((resolve, reject) => (socket!.once('connect', resolve), socket!.once('connect_error', reject)));
    const login = await request(url).post('/regenerate').set('Cookie', old).expect(200);
    expect(await store.getItem(idOf(old))).toEqual({ kind: 'absent', moved: true });
    for (const event of ['increment', 'counter']) {
      const exception = new Promise<{ message: string }>((resolve) => socket!.once('exception', resolve));
      socket.emit(event, {});
      expect((await exception).message).toMatch(/has ended.*reconnect/);
    }
    await request(url).get('/profile').set('Cookie', sessionCookie(login.headers)!).expect(200, { user: 'ann', count: 0 });
  });
});
