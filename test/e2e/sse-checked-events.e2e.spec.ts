import { Controller, Sse, type INestApplication, type MessageEvent } from '@nestjs/common';
import { Subject, map, type Observable } from 'rxjs';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateRead } from '../../src/store/session-state-store.js';
import { Gates } from '../support/gates.js';
import { sseReader as reader } from '../support/sse-reader.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { SessionTestController } from '../e2e/fixtures/session-test.controller.js';

/* @Sse() streams checked per event, with store faults and clients leaving. */

/** A store whose next getItem can be made to fail or wait (faults a real store cannot be made to show on cue). */
class FaultyStore extends InMemorySessionStateStore {
  next: 'fail' | 'wait' | undefined;
  release: ((fail: boolean) => void) | undefined;
  waiting: Promise<void> | undefined;
  override async getItem(id: string): Promise<SessionStateRead> {
    const mode = this.next;
    this.next = undefined;
    if (mode === 'fail') throw new SessionStateStoreUnavailableError('down');
    if (mode === 'wait') {
      let arrived!: () => void;
      this.waiting = new Promise<void>((resolve) => (arrived = resolve));
      const fail = await new Promise<boolean>((resolve) => {
        this.release = resolve;
        arrived();
      });
      if (fail) throw new SessionStateStoreUnavailableError('down');
    }
    return super.getItem(id);
  }
}

const sources: Subject<number>[] = [];

@Controller('rsse')
class StreamController {
  @Sse('events')
  events(@Session() session: HttpSessionState): Observable<MessageEvent> {
    const source = new Subject<number>();
    sources.push(source);
    return source.pipe(map((n) => ({ data: { n, count: session.get<number>('count') ?? 0 } })));
  }
}

describe.each(ADAPTERS)('@Sse() checks on %s', (adapter) => {
  let app: INestApplication;
  let url: string;
  let store: FaultyStore;
  let cookie: string;
  beforeEach(async () => {
    store = new FaultyStore();
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
    store.release?.(false);
    sources.splice(0);
    (app.getHttpServer() as import('node:http').Server).closeAllConnections();
    await app.close();
  });

  const open = async () => {
    const stream = reader((await fetch(`${url}/rsse/events`, { headers: { Cookie: cookie } })).body!);
    await vi.waitFor(() => expect(sources).toHaveLength(1));
    return { stream, source: sources[0]! };
  };

  it('events that come during a pending check go out after it, in order; a completion during the check ends the stream after them', async () => {
    const { stream, source } = await open();
    store.next = 'wait';
    source.next(1);
    await store.waiting;
    source.next(2);
    source.next(3);
    source.complete();
    store.release!(false);
    const seen = [await stream.nextEvent(), await stream.nextEvent(), await stream.nextEvent(), await stream.nextEvent()];
    expect(seen.map((e) => (e ? JSON.parse(e.data).n : null))).toEqual([1, 2, 3, null]);
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });

  it('a store that fails during the check ends the stream with an error event (no event of that batch)', async () => {
    const { stream, source } = await open();
    store.next = 'fail';
    source.next(1);
    const event = await stream.nextEvent();
    expect(event?.type).toBe('error');
    expect(await stream.nextEvent()).toBeNull();
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });

  it.each([false, true])('a client that leaves during a check (which then %s) leaves nothing behind', async (fail) => {
    const { stream, source } = await open();
    store.next = 'wait';
    source.next(1);
    await store.waiting;
    await stream.cancel();
    await vi.waitFor(() => expect(source.observed).toBe(false)); // Nest unsubscribed the handler's stream
    store.release!(fail);
    await new Promise((resolve) => setImmediate(resolve));
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
});
