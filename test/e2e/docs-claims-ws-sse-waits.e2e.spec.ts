import type { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { io } from 'socket.io-client';
import request from 'supertest';
import { SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { Gates } from '../support/gates.js';
import { sseReader } from '../support/sse-reader.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { CounterGateway } from './fixtures/counter.gateway.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { SseSource, SseTestController } from './fixtures/sse-test.controller.js';
import { idOf } from './session-app.js';

/*
 * docs/TRANSPORTS.md:164-165 ("A message whose client disconnects while it waits for the
 * lock stops waiting") and :183 (an @Sse() stream holds no lock, "and shutdown does not wait for open streams").
 */
describe.each(ADAPTERS)('TRANSPORTS.md: waits of gateway messages and streams, over %s', (adapter) => {
  let app: INestApplication | undefined;
  let url: string;
  let gates: Gates;
  beforeEach(async () => {
    gates = new Gates();
    app = await createTestApp(
      adapter,
      {
        // A long executionTimeout: a shutdown that waited for a stream would wait that long.
        imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), executionTimeout: 60 })],
        controllers: [SessionTestController, SseTestController],
        providers: [{ provide: Gates, useValue: gates }, CounterGateway, SseSource],
      },
      (a) => a.useWebSocketAdapter(new IoAdapter(a)),
    );
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterEach(async () => {
    gates.openAll();
    await app?.close();
  });

  it('socket.io: a message queued behind a held lock stops waiting when its client disconnects', async () => {
    const cookie = sessionCookie((await request(url).post('/seed').expect(200)).headers)!;
    const locks = app!.get(SessionStateLifecycle).locks;
    const held = request(url)
      .post('/count?gate=hold')
      .set('Cookie', cookie)
      .then((r) => r);
    await gates.arrived('hold');
    const socket = io(url, { transports: ['websocket'], extraHeaders: { Cookie: cookie }, forceNew: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    socket.emit('increment', {});
    await vi.waitFor(() => expect(locks.waiting(idOf(cookie))).toBe(1));
    socket.disconnect();
    await vi.waitFor(() => expect(locks.waiting(idOf(cookie))).toBe(0)); // while the holder still holds it
    gates.open('hold');
    expect((await held).body).toEqual({ count: 1 });
    expect((await request(url).get('/count').set('Cookie', cookie)).body).toEqual({ count: 1 }); // the message never ran
  });

  it('an open @Sse() stream of a stored session does not hold up the module shutdown', async () => {
    const cookie = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    const res = await fetch(`${url}/sse/events`, { headers: { Cookie: cookie } });
    const stream = sseReader(res.body!);
    app!.get(SseSource).events.next(1);
    expect(await stream.next()).toMatchObject({ n: 1, count: 1 });
    const lifecycle = app!.get(SessionStateLifecycle);
    const started = performance.now();
    await lifecycle.beforeApplicationShutdown();
    expect(performance.now() - started).toBeLessThan(5_000);
    await stream.cancel();
  });
});
