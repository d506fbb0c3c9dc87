/**
 * TRANSPORTS.md, "Server-sent events": shutdown does not wait for open streams, and ends them. A session's
 * @Sse() stream holds no lease, so the module's shutdown hook never waited for it; but nothing ended it,
 * and the HTTP server's close (Express, Fastify), next in app.close() (what enableShutdownHooks() runs on
 * SIGTERM), waited for its connection for good. The module completes its streams when shutdown begins:
 * the client sees the stream end (an EventSource reconnects, to another instance).
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { SessionStateModule } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { Gates } from '../support/gates.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { SseSource, SseTestController } from './fixtures/sse-test.controller.js';
import { sseReader } from '../support/sse-reader.js';

describe.each(ADAPTERS)('app.close() with a session @Sse() stream open, over %s', (adapter) => {
  let app: INestApplication;
  let closing: Promise<void> | undefined;
  let cancel: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cancel?.().catch(() => undefined); // lets a hung close() end
    await (closing ?? app?.close());
    closing = cancel = undefined;
  });

  it.each([
    ['a stored session', true],
    ['no session yet (no cookie)', false],
  ])('ends the stream (%s), and ends within a few seconds', async (_what, withCookie) => {
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), executionTimeout: 60 })],
      controllers: [SessionTestController, SseTestController],
      providers: [{ provide: Gates, useValue: new Gates() }, SseSource],
    });
    await app.listen(0, '127.0.0.1');
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const cookie = withCookie ? sessionCookie((await request(url).post('/count').expect(200)).headers)! : undefined;
    const res = await fetch(`${url}/sse/events`, { headers: cookie ? { Cookie: cookie } : {} });
    const stream = sseReader(res.body!);
    cancel = () => stream.cancel();
    app.get(SseSource).events.next(1);
    expect(await stream.next()).toMatchObject({ n: 1 });
    closing = app.close();
    expect(await stream.nextEvent()).toBeNull(); // the stream ended
    const outcome = await Promise.race([
      closing.then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('app.close() still running after 3 s'), 3_000)),
    ]);
    expect(outcome).toBe('closed');
  });
});
