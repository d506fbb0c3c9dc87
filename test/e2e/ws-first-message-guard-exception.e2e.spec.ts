import { Logger } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { io } from 'socket.io-client';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateModule } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { createTestApp, sessionCookie } from '../support/test-app.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { GlobalAccessorGuard } from './fixtures/global-accessor.guard.js';
import { SavingGateway } from './fixtures/saving.gateway.js';

/*
 * As ws-first-message-exception.e2e.spec.ts, with the session read first by a global guard
 * (`SessionStateAccessor`, which renders the error itself): its own file, for a fresh module graph.
 */

it("socket.io over long-polling: a global guard's read failing on the first message of a process: the catalog message, and no log line shows the id", async () => {
  class FailingStore extends InMemorySessionStateStore {
    failing = false;
    override async getItem(id: string) {
      if (this.failing) throw new Error(`ECONNRESET talking to redis-prod-1:6379 for key "sess:${id}"`);
      return super.getItem(id);
    }
  }
  const store = new FailingStore();
  const app = await createTestApp(
    'express',
    {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [SessionTestController],
      providers: [{ provide: Gates, useValue: new Gates() }, { provide: APP_GUARD, useClass: GlobalAccessorGuard }, SavingGateway],
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
    const leaked = lines.filter((line) => line.includes(cookie.split('=')[1]!));
    expect({ got, leaked }).toEqual({ got: 'exception:Session state failed; the changes of this request were not saved.', leaked: [] });
  } finally {
    vi.restoreAllMocks();
    await app.close();
  }
});
