import type { Server } from 'node:http';
import { Controller, Sse, type INestApplication, type MessageEvent } from '@nestjs/common';
import { Subject, finalize, interval, map, of, type Observable } from 'rxjs';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateRead } from '../../src/store/session-state-store.js';
import { Gates } from '../support/gates.js';
import { sseReader } from '../support/sse-reader.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { SessionTestController } from './fixtures/session-test.controller.js';

/*
 * An @Sse() stream that ends with its session (signed out, or its liveness check failed) lets go of
 * the handler's Observable: its pub/sub subscription, its timers, its per-event work. (Found by
 * review R4: the stream ended, the handler's source stayed subscribed.)
 */

/** A store whose reads can be made to fail (a store outage during an event's check). */
class FailingStore extends InMemorySessionStateStore {
  failing = false;
  override async getItem(id: string): Promise<SessionStateRead> {
    if (this.failing) throw new Error('ECONNRESET');
    return super.getItem(id);
  }
}

const source = new Subject<number>();
/** How many times the handlers' `map` ran, and the handlers' Observables that were let go of. */
const work = { mapped: 0, finalized: 0 };

@Controller('sse-end')
class StreamController {
  @Sse('events')
  events(@Session() session: HttpSessionState): Observable<MessageEvent> {
    return source.pipe(
      map((n) => (work.mapped++, { data: { n, count: session.get<number>('count') ?? 0 } })),
      finalize(() => work.finalized++),
    );
  }

  @Sse('three')
  three(@Session() session: HttpSessionState): Observable<MessageEvent> {
    return of(1, 2, 3).pipe(
      map((n) => ({ data: { n, count: session.get<number>('count') ?? 0 } })),
      finalize(() => work.finalized++),
    );
  }

  @Sse('ticks')
  ticks(@Session() session: HttpSessionState): Observable<MessageEvent> {
    return interval(5).pipe(
      map((n) => ({ data: { n, count: session.get<number>('count') ?? 0 } })),
      finalize(() => work.finalized++),
    );
  }
}

describe.each(ADAPTERS)('@Sse() streams ended with their session on %s', (adapter) => {
  let app: INestApplication;
  let url: string;
  let store: FailingStore;
  let cookie: string;
  beforeEach(async () => {
    store = new FailingStore();
    work.mapped = work.finalized = 0;
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [SessionTestController, StreamController],
      providers: [{ provide: Gates, useValue: new Gates() }],
    });
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    cookie = sessionCookie((await request(url).post('/count').expect(200)).headers)!;
  });
  afterEach(async () => {
    source.observers.splice(0); // a failed test may leave one
    (app.getHttpServer() as Server).closeAllConnections();
    await app.close();
  });

  const open = async (path = 'events') => {
    const before = source.observers.length;
    const stream = sseReader((await fetch(`${url}/sse-end/${path}`, { headers: { Cookie: cookie } })).body!);
    if (path === 'events') await vi.waitUntil(() => source.observers.length > before, { timeout: 5000 });
    return stream;
  };

  it("a stream ended by its session's end unsubscribes the handler's source; its map runs no more", async () => {
    const stream = await open();
    source.next(1);
    expect(await stream.next()).toEqual({ n: 1, count: 1 });
    await request(url).post('/abandon').set('Cookie', cookie).expect(200);
    source.next(2);
    expect((await stream.nextEvent())?.type).toBe('error');
    expect(await stream.nextEvent()).toBeNull(); // the response ended
    await vi.waitUntil(() => work.finalized === 1, { timeout: 3000 }).catch(() => {});
    expect(source.observers).toHaveLength(0);
    expect(work.finalized).toBe(1);
    const mapped = work.mapped;
    source.next(3);
    expect(work.mapped).toBe(mapped); // a Subject's next is synchronous: nothing ran for it
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });

  it("a stream ended by a store failure during an event's check unsubscribes the handler's source", async () => {
    const stream = await open();
    store.failing = true;
    source.next(1);
    expect((await stream.nextEvent())?.type).toBe('error');
    expect(await stream.nextEvent()).toBeNull();
    await vi.waitUntil(() => work.finalized === 1, { timeout: 3000 }).catch(() => {});
    expect(source.observers).toHaveLength(0);
    expect(work.finalized).toBe(1);
  });

  it("a timer stream (interval()) ended by its session's end: the handler's timer is stopped", async () => {
    const stream = await open('ticks');
    expect(await stream.next()).toMatchObject({ count: 1 });
    await request(url).post('/abandon').set('Cookie', cookie).expect(200);
    // The ticks go on until one's check sees the session ended.
    for (;;) {
      const event = await stream.nextEvent();
      if (event?.type === 'error' || event === null) break;
    }
    await vi.waitUntil(() => work.finalized === 1, { timeout: 3000 }).catch(() => {});
    expect(work.finalized).toBe(1);
  });

  it('a stream whose source completes by itself ends as before: all its events, then the end', async () => {
    const stream = await open('three');
    for (const n of [1, 2, 3]) expect(await stream.next()).toEqual({ n, count: 1 });
    expect(await stream.nextEvent()).toBeNull();
    expect(work.finalized).toBe(1);
  });
});
