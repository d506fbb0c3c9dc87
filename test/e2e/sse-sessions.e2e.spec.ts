import { Logger, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { SessionStateModule } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { sseReader } from '../support/sse-reader.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { RequiredSseController, SseSource, SseTestController } from './fixtures/sse-test.controller.js';

describe.each(ADAPTERS)('SSE sessions over %s', (adapter) => {
  let app: INestApplication;
  let url: string;
  let counter: StoreCallCounter;
  let source: SseSource;
  beforeAll(async () => {
    const counting = countingStore(new InMemorySessionStateStore());
    counter = counting.counter;
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store: counting.store })],
      controllers: [SessionTestController, SseTestController],
      providers: [{ provide: Gates, useValue: new Gates() }, SseSource],
    });
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    source = app.get(SseSource);
  });
  afterAll(async () => {
    // A stream that ended (the signed-out one) leaves its connection idle in the client's pool: closed here, not at its keep-alive timeout.
    (app.getHttpServer() as import('node:http').Server).closeAllConnections();
    await app.close();
  });

  it('events arrive as they are produced; the stream reads a snapshot, holds no lock, and does not block writes', async () => {
    const cookie = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    counter.reset();
    const res = await fetch(`${url}/sse/events`, { headers: { Cookie: cookie } });
    const stream = sseReader(res.body!);
    try {
      // Each event is awaited before the next is produced: a held-back event would never arrive.
      source.events.next(1);
      expect(await stream.next()).toEqual({ n: 1, count: 1, readOnly: true });
      // The stream's start, and the event's check that its session still lives (no lock, no write).
      expect(counter.calls).toEqual({ getItem: 2 });
      // A write of the same user while the stream is open goes through at once (no lock held).
      await request(url).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
      source.events.next(2);
      // The stream's snapshot was taken when it started.
      expect(await stream.next()).toEqual({ n: 2, count: 1, readOnly: true });
      source.events.next(3);
      expect(await stream.next()).toEqual({ n: 3, count: 1, readOnly: true });
    } finally {
      await stream.cancel();
    }
  });

  it("an event after the session ended (signed out by another request) is not sent: the stream ends with the 410's message; another user's stream goes on", async () => {
    const mine = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    const theirs = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    const [a, b] = await Promise.all(
      [mine, theirs].map(async (cookie) => sseReader((await fetch(`${url}/sse/events`, { headers: { Cookie: cookie } })).body!)),
    );
    try {
      source.events.next(1);
      expect(await a.nextEvent()).toEqual({ data: JSON.stringify({ n: 1, count: 1, readOnly: true }) });
      expect(await b.nextEvent()).toEqual({ data: JSON.stringify({ n: 1, count: 1, readOnly: true }) });
      await request(url).post('/abandon').set('Cookie', mine).expect(200);
      const logged = vi.spyOn(Logger.prototype, 'error');
      source.events.next(2);
      expect(await a.nextEvent()).toEqual({ type: 'error', data: expect.stringMatching(/session.*ended/i) });
      expect(await a.nextEvent()).toBeNull(); // ended: nothing after the error
      // A refusal the client is told about, not a failure: Nest logs no error for it (an HttpException is intrinsic).
      expect(logged).not.toHaveBeenCalled();
      logged.mockRestore();
      expect(await b.nextEvent()).toEqual({ data: JSON.stringify({ n: 2, count: 1, readOnly: true }) });
    } finally {
      await Promise.all([a.cancel(), b.cancel()]);
    }
  });

  it('a stream without a stored session (no cookie) reads nothing per event', async () => {
    counter.reset();
    const stream = sseReader((await fetch(`${url}/sse/events`)).body!);
    try {
      source.events.next(1);
      source.events.next(2);
      expect(await stream.next()).toEqual({ n: 1, count: 0, readOnly: true });
      expect(await stream.next()).toEqual({ n: 2, count: 0, readOnly: true });
      expect(counter.calls).toEqual({});
    } finally {
      await stream.cancel();
    }
  });

  it('Required on an @Sse() handler is refused at startup, with what to do', async () => {
    await expect(createTestApp(adapter, { imports: [SessionStateModule.forRoot({})], controllers: [RequiredSseController] })).rejects.toThrow(
      /RequiredSseController\.events \(@Sse\(\)\).*read-only snapshot/,
    );
  });
});
