import { Logger } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { io } from 'socket.io-client';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateModule } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { createTestApp, sessionCookie } from '../support/test-app.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { SavingGateway } from './fixtures/saving.gateway.js';

/*
 * The first WebSocket message of a process gets the catalog's exception like any other, and no log
 * line shows its session id (its own file: vitest runs each file in a fresh module graph, so no
 * earlier test has loaded WsException yet). Found by review R4: the first message's error went out
 * raw ("Internal server error", the store's text logged) while WsException was still loading.
 */

it('socket.io over long-polling: the first message of a process whose store fails gets the catalog message, and no log line shows the id', async () => {
  class FailingStore extends InMemorySessionStateStore {
    failing = false;
    override async getItemExclusive(id: string) {
      if (this.failing) throw new Error(`ECONNRESET talking to redis-prod-1:6379 for key "sess:${id}"`);
      return super.getItemExclusive(id);
    }
  }
  const store = new FailingStore();
  const app = await createTestApp(
    'express',
    {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [SessionTestController],
      providers: [{ provide: Gates, useValue: new Gates() }, SavingGateway],
    },
    (app) => app.useWebSocketAdapter(new IoAdapter(app)),
  );
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const cookie = sessionCookie((await request(url).post('/seed').expect(200)).headers)!;
  const lines: string[] = [];
  for (const level of ['log', 'error', 'warn', 'debug', 'verbose', 'fatal'] as const) {
    vi.spyOn(Logger.prototype, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((x) => (x instanceof Error ? `${x.message} ${x.stack}` : String(x))).join(' '));
    });
  }
  try {
    const socket = io(url, { transports: ['polling'], extraHeaders: { Cookie: cookie }, forceNew: true });
    await new Promise<void>((resolve, reject) => (socket.once('connect', resolve), socket.once('connect_error', reject)));
    store.failing = true;
    const exception = new Promise<{ message: string }>((resolve) => socket.once('exception', resolve));
    socket.emit('increment', {});
    const got = `exception:${(await exception).message}`;
    socket.close();
    // Over long-polling no upgrade happens (the upgrade recorder, which starts loading WsException
    // for a `ws` connection, never runs): the first message itself must wait for it to load.
    const leaked = lines.filter((line) => line.includes(cookie.split('=')[1]!));
    expect({ got, leaked }).toEqual({ got: 'exception:Session state failed; the changes of this request were not saved.', leaked: [] });
  } finally {
    vi.restoreAllMocks();
    await app.close();
  }
});
