import type { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import { SessionStateModule, SessionStateStoreUnavailableError, type SessionStateModuleOptions } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { CounterGateway } from './fixtures/counter.gateway.js';
import { SessionTestController } from './fixtures/session-test.controller.js';

/*
 * docs/TRANSPORTS.md's claims on WebSocket gateways (lines 154-165): errors reach the client
 * as `{ status: 'error', message, error }` on `exception` (plus `retryAfter` in seconds); no cookie: a
 * write is a SessionStateReadOnlyError; a cookie whose session is gone: every message, reads included,
 * SessionStateEndedError. And docs/MIGRATING.md:132's "503 (...; with Retry-After)".
 */

class UnreachableStore extends InMemorySessionStateStore {
  override async getItem(): Promise<never> {
    throw new SessionStateStoreUnavailableError('store down (test)');
  }
  override async getItemExclusive(): Promise<never> {
    throw new SessionStateStoreUnavailableError('store down (test)');
  }
}

describe.each(ADAPTERS)('TRANSPORTS.md: a gateway client sees the documented errors, over %s', (adapter) => {
  let app: INestApplication;
  let url: string;
  let gates: Gates;
  const sockets: Socket[] = [];
  async function start(options: SessionStateModuleOptions = {}) {
    gates = new Gates();
    app = await createTestApp(
      adapter,
      {
        imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), ...options })],
        controllers: [SessionTestController],
        providers: [{ provide: Gates, useValue: gates }, CounterGateway],
      },
      (a) => a.useWebSocketAdapter(new IoAdapter(a)),
    );
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  }
  async function connect(cookie?: string) {
    const socket = io(url, { transports: ['websocket'], extraHeaders: cookie ? { Cookie: cookie } : {}, forceNew: true });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return socket;
  }
  const nextException = (socket: Socket) => new Promise<Record<string, unknown>>((resolve) => socket.once('exception', resolve));
  afterEach(async () => {
    gates?.openAll();
    sockets.splice(0).forEach((s) => s.close());
    await app?.close();
  });

  it('no cookie: a write is refused as { status, message, error: SessionStateReadOnlyError }', async () => {
    await start();
    const socket = await connect();
    const exception = nextException(socket);
    socket.emit('increment', {});
    expect(await exception).toEqual({ status: 'error', message: expect.any(String), error: 'SessionStateReadOnlyError' });
  });

  it('a cookie whose session was abandoned: a read-only message too is refused with SessionStateEndedError', async () => {
    await start();
    const cookie = sessionCookie((await request(url).post('/seed').expect(200)).headers)!;
    await request(url).post('/abandon').set('Cookie', cookie).expect(200);
    const socket = await connect(cookie);
    const exception = nextException(socket);
    socket.emit('counter', {});
    expect(await exception).toEqual({ status: 'error', message: expect.stringMatching(/has ended/), error: 'SessionStateEndedError' });
  });

  it('the store down: { status, message: the catalog 503 text, error }', async () => {
    await start({ store: new UnreachableStore() });
    const socket = await connect(`sid=${'A'.repeat(32)}`);
    const exception = nextException(socket);
    socket.emit('increment', {});
    expect(await exception).toEqual({
      status: 'error',
      message: 'Session state is unavailable; try again.',
      error: 'SessionStateStoreUnavailableError',
    });
    // MIGRATING.md:132 says 503 "(store unavailable, or more than 100 requests of one session waiting; with Retry-After)".
    const http = await request(url)
      .post('/count')
      .set('Cookie', `sid=${'A'.repeat(32)}`);
    expect(http.status).toBe(503);
    expect(http.headers['retry-after']).toBeUndefined(); // only a full queue's 503 carries it
  });

  it('a full queue: the message gets retryAfter in seconds', async () => {
    await start({ lockWait: { maxQueueLength: 1 } });
    const cookie = sessionCookie((await request(url).post('/seed').expect(200)).headers)!;
    const held = request(url)
      .post('/count?gate=hold')
      .set('Cookie', cookie)
      .then((r) => r);
    await gates.arrived('hold');
    const socket = await connect(cookie);
    const exception = nextException(socket);
    socket.emit('increment', {}); // waits (1 in the queue)
    socket.emit('increment', {}); // refused: the queue is full
    expect(await exception).toEqual({
      status: 'error',
      message: 'Too many concurrent requests for one session; try again later.',
      error: 'SessionStateQueueFullError',
      retryAfter: 1,
    });
    gates.open('hold');
    expect((await held).status).toBe(200);
  });
});
