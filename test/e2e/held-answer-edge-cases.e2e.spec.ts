import { Controller, HttpCode, Post, Res } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { ServerResponse } from 'node:http';
import request from 'supertest';
import { HttpSessionState, mountSessionState, Session, SessionState, SessionStateBehavior, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { innerExpressApp } from './fixtures/inner-express-app.js';

/*
 * Held answers at their edges (found by a review, each failed before its fix): two Nest apps, one
 * mounted in the other's Express app (their hooked app.response prototypes must not call each other);
 * an invalid output call (it fails in the handler, as unheld: 500, nothing saved); a @Res() handler
 * that awaits write()'s callback (it is called once the write is held).
 */

const rawOf = (res: { raw?: ServerResponse } & object): ServerResponse => res.raw ?? (res as ServerResponse);

@Controller('held')
class HeldController {
  /** An answer the handler sends itself (`@Res()`): held until the session is saved. */
  @Post('self')
  self(@Session() session: HttpSessionState, @Res() res: object) {
    session.set('n', (session.get<number>('n') ?? 0) + 1);
    rawOf(res).end(`n=${session.get<number>('n')}`);
  }

  /** A handler bug: an invalid chunk type. Node throws it synchronously from `end()` (a 500 through Nest's filter). */
  @Post('bad-chunk')
  badChunk(@Session() session: HttpSessionState, @Res() res: object) {
    session.set('bad', true);
    rawOf(res).end(42 as unknown as string);
  }

  /** A handler bug: an invalid header value given to writeHead(). Node throws it synchronously (a 500). */
  @Post('bad-header')
  badHeader(@Session() session: HttpSessionState, @Res() res: object) {
    session.set('bad', true);
    const raw = rawOf(res);
    raw.writeHead(200, { 'x-bad': 'a\nb' });
    raw.end('ok');
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('two Nest applications, one mounted as an Express sub-app of the other', () => {
  it('a held answer of the inner application is sent (no infinite recursion between the two hooked app.response prototypes)', async () => {
    // Inner Nest app on its own Express instance, mounted under the outer Nest app at /inner
    // (Express sets inner.response's prototype to outer.response on 'mount').
    const { express: innerExpress, app: inner } = await innerExpressApp([HeldController]);
    apps.push(inner);
    const outer = await createTestApp(
      'express',
      { imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })], controllers: [HeldController] },
      (app) => app.use('/inner', innerExpress),
    );
    apps.push(outer);
    const http = outer.getHttpServer();

    // 1. The outer app holds an answer first: its app.response gets the hooks.
    await request(http).post('/held/self').expect(201, 'n=1');
    // 2. The inner app holds one: its app.response (which inherits the outer's hooks) gets its own,
    //    whose "originals" are the outer app's hooks. Replaying the held end() goes
    //    inner hook -> held.output -> outer hook -> held.output -> ... (RangeError), inside a promise
    //    callback: an unhandled rejection and no answer.
    const answer = await request(http)
      .post('/inner/held/self')
      .timeout(3000)
      .then(
        (r) => r,
        (error: Error) => error,
      );
    expect(answer instanceof Error ? answer.message : answer.status).toBe(201);
    expect(inner.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
});

@Controller('plain')
class PlainController {
  /** An ordinary JSON route that writes: under the mount, its guard holds the answer until the interceptor takes over. */
  @Post('count')
  @HttpCode(200)
  @SessionState(SessionStateBehavior.Required)
  count(@Session() session: HttpSessionState) {
    session.set('n', (session.get<number>('n') ?? 0) + 1);
    return { n: session.get<number>('n') };
  }
}

describe('two Nest applications with the mount, one mounted as an Express sub-app of the other', () => {
  it('an ordinary JSON route (no @Res()) of the inner application answers', async () => {
    const { express: innerExpress, app: inner } = await innerExpressApp([PlainController], { mount: true });
    apps.push(inner);
    const outerRef = await Test.createTestingModule({
      // The outer mount's read-only lease of the unanswered request is released when stale (2 s): app.close() returns.
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), executionTimeout: 2 })],
      controllers: [PlainController],
    }).compile();
    const outer = outerRef.createNestApplication({ logger: false });
    await mountSessionState(outer);
    outer.use('/inner', innerExpress);
    await outer.init();
    apps.push(outer);
    const http = outer.getHttpServer();

    await request(http).post('/plain/count').expect(200, { n: 1 }); // the outer app's app.response is hooked
    // The inner app's guard holds the answer (then lets it go): its app.response is hooked over the
    // outer's hooks; every later output call of the inner app loops between the two.
    const answer = await request(http)
      .post('/inner/plain/count')
      .timeout(3000)
      .then(
        (r) => r,
        (error: Error) => error,
      );
    expect(answer instanceof Error ? answer.message : `${answer.status} ${answer.text}`).toBe('200 {"n":1}');
    expect(inner.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
});

describe.each(ADAPTERS)('an invalid output call of a held answer, on %s', (adapter) => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  beforeEach(async () => {
    store = new InMemorySessionStateStore();
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [HeldController],
    });
    apps.push(app);
  });

  // Without the hold, Node throws from end()/writeHead() inside the handler: Nest's exception
  // filter answers 500 and nothing is saved. Held, the call is accepted (the handler "succeeded"),
  // the session is SAVED, and the replay throws inside a promise callback: an unhandled rejection
  // (a crashed process under Node's default) and a client left without an answer.
  it.each(['bad-chunk', 'bad-header'])('%s: the client gets a 500 and the session is not saved, no unhandled rejection', async (route) => {
    const http = app.getHttpServer();
    const cookie = sessionCookie((await request(http).post('/held/self').expect(201)).headers)!;
    const answer = await request(http)
      .post(`/held/${route}`)
      .set('Cookie', cookie)
      .timeout(3000)
      .then(
        (r) => r,
        (error: Error) => error,
      );
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    // What the failed handler changed must not have been saved; the client gets the 500.
    const stored = (await store.getItem(cookie.slice(cookie.indexOf('=') + 1))) as { item?: { items: string } };
    expect({ answer: answer instanceof Error ? answer.message : answer.status, stored: JSON.parse(stored.item!.items) as unknown }).toEqual({
      answer: 500,
      stored: { n: 1 },
    });
  });
});

@Controller('cb')
class WriteCallbackController {
  /** Streams with backpressure the callback way: each chunk awaited through write()'s callback, then end(). */
  @Post('stream')
  async stream(@Session() session: HttpSessionState, @Res() res: object) {
    const raw = rawOf(res);
    raw.writeHead(200, { 'content-type': 'text/plain' });
    for (const chunk of ['a', 'b']) await new Promise<void>((resolve, reject) => raw.write(chunk, (error) => (error ? reject(error) : resolve())));
    session.set('streamed', true);
    raw.end('c');
  }

  /** The same without a session (control: passes). */
  @Post('plain')
  @SessionState(SessionStateBehavior.Disabled)
  async plain(@Res() res: object) {
    const raw = rawOf(res);
    raw.writeHead(200, { 'content-type': 'text/plain' });
    for (const chunk of ['a', 'b']) await new Promise<void>((resolve, reject) => raw.write(chunk, (error) => (error ? reject(error) : resolve())));
    raw.end('c');
  }
}

describe.each(ADAPTERS)("a @Res() handler that awaits write()'s callback, on %s", (adapter) => {
  // Held, write()'s callback runs only when the held calls are replayed: at end() or when the
  // handler settles. The handler waits for the callback before it ends or settles: neither comes.
  // The client never gets an answer, the lease is never completed (the lock is held until it is
  // broken as stale), and app.close() waits for that lease.
  it('control: the same handler without a session answers', async () => {
    const app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })],
      controllers: [WriteCallbackController],
    });
    apps.push(app);
    await request(app.getHttpServer()).post('/cb/plain').timeout(3000).expect(200, 'abc');
  });

  it('the answer arrives and the lease completes', async () => {
    const app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), executionTimeout: 2 })],
      controllers: [WriteCallbackController],
    });
    const answer = await request(app.getHttpServer())
      .post('/cb/stream')
      .timeout(3000)
      .then(
        (r) => r,
        (error: Error) => error,
      );
    const lifecycle = app.get(SessionStateLifecycle);
    const active = lifecycle.activeLeases;
    apps.push(app); // closed after the test (waits for the lease, if held, until it is stale)
    expect(answer instanceof Error ? answer.message : `${answer.status} ${answer.text}`).toBe('200 abc');
    expect(active).toBe(0);
  });
});
