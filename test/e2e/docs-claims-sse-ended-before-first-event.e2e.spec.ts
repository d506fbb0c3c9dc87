import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { SessionStateModule } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { SseSource, SseTestController } from './fixtures/sse-test.controller.js';

/*
 * docs/TRANSPORTS.md ("A stream ends with its session"): Nest begins an @Sse() stream (200 and its
 * headers) on the macrotask after the handler returned, so a session signed out after the stream
 * opened, even before its first event, ends it with an `error` event on a 200 answer. A 410 comes only
 * when the check fails before that macrotask. (Review R14 found the page said otherwise.)
 */
describe.each(ADAPTERS)('TRANSPORTS.md: an @Sse() stream whose session ends before its first event, over %s', (adapter) => {
  let app: INestApplication;
  let url: string;
  beforeAll(async () => {
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })],
      controllers: [SessionTestController, SseTestController],
      providers: [{ provide: Gates, useValue: new Gates() }, SseSource],
    });
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    (app.getHttpServer() as import('node:http').Server).closeAllConnections();
    await app.close();
  });

  it('answers 200 and an error event with the catalog message, not the 410 a reader expects', async () => {
    const source = app.get(SseSource);
    const cookie = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
    const opened = fetch(`${url}/sse/events`, { headers: { Cookie: cookie } });
    await vi.waitFor(() => expect(source.events.observed).toBe(true));
    await request(url).post('/abandon').set('Cookie', cookie).expect(200);
    source.events.next(1);
    const res = await opened;
    const body = await res.text();
    expect({ status: res.status, body }).toEqual({
      status: 200,
      body: expect.stringMatching(/^\s*event: error\nid: 1\ndata: The session of this connection has ended/),
    });
  });
});
