import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { SessionStateModule } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { RequiredSseController, SseSource, SseTestController } from './fixtures/sse-test.controller.js';

/** Reads an SSE response: `next()` resolves with the data of the next event as soon as it arrives. */
function sseReader(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    async next(): Promise<unknown> {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.split('\n').find((line) => line.startsWith('data: '));
          if (data) return JSON.parse(data.slice(6));
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('the stream ended');
        buffer += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}

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
  afterAll(() => app.close());

  it('events arrive as they are produced; the stream reads a snapshot, holds no lock, and does not block writes', async () => {
    const cookie = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    counter.reset();
    const res = await fetch(`${url}/sse/events`, { headers: { Cookie: cookie } });
    const stream = sseReader(res.body!);
    try {
      // Each event is awaited before the next is produced: a held-back event would never arrive.
      source.events.next(1);
      expect(await stream.next()).toEqual({ n: 1, count: 1, readOnly: true });
      expect(counter.calls).toEqual({ getItem: 1 });
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

  it('Required on an @Sse() handler is refused at startup, with what to do', async () => {
    await expect(createTestApp(adapter, { imports: [SessionStateModule.forRoot({})], controllers: [RequiredSseController] })).rejects.toThrow(
      /RequiredSseController\.events \(@Sse\(\)\).*read-only snapshot/,
    );
  });
});
