import { Controller, Post, Query, Res } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStoreData } from '../../src/store/session-state-store.js';
import { Gates } from '../support/gates.js';
import { withOuterTimeout } from '../support/timeout.interceptor.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { idOf } from './session-app.js';

/*
 * An answer a handler sends itself (`@Res()`) is held until it ends, and the session completed then
 * (review of this round's change: it was completed at the first chunk, while the handler still ran).
 */

/** A store whose saves fail while `failSaves` is set (a store outage at the end of a request). */
class FlakyStore extends InMemorySessionStateStore {
  failSaves = false;
  override async setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    if (this.failSaves) throw new SessionStateStoreUnavailableError('the store is down');
    return super.setAndReleaseItemExclusive(id, item, lockId, newItem);
  }
}

/** The raw Node response of either platform's `@Res()` object. */
const rawOf = (res: { raw?: ServerResponse } & object): ServerResponse => res.raw ?? (res as ServerResponse);

@Controller('held')
class HeldController {
  running = 0;
  maxRunning = 0;

  constructor(private readonly gates: Gates) {}

  private enter(): void {
    this.maxRunning = Math.max(this.maxRunning, ++this.running);
  }

  @Post('count')
  count(@Session() session: HttpSessionState) {
    this.enter();
    try {
      session.set('n', (session.get<number>('n') ?? 0) + 1);
      return { n: session.get<number>('n') };
    } finally {
      this.running--;
    }
  }

  /** Writes a first chunk, parks at `gate`, then changes the session and ends its answer. */
  @Post('stream')
  async stream(@Session() session: HttpSessionState, @Res() res: object, @Query('gate') gate: string) {
    this.enter();
    try {
      const raw = rawOf(res);
      raw.writeHead(200, { 'content-type': 'text/plain' });
      raw.write('first ');
      await this.gates.pass(gate);
      session.set('late', 'after the first chunk');
      session.set('n', (session.get<number>('n') ?? 0) + 1);
      raw.end('last');
    } finally {
      this.running--;
    }
  }

  /** Begins an answer, changes the session, then throws without ending the answer. */
  @Post('throw-mid-answer')
  throwMidAnswer(@Session() session: HttpSessionState, @Res() res: object) {
    const raw = rawOf(res);
    raw.writeHead(201, { 'content-type': 'text/plain' });
    raw.write('partial');
    session.set('n', 99);
    throw new Error('failed mid-answer');
  }

  /** A login whose answer carries the handler's own headers (an auth cookie, a user header). */
  @Post('login')
  login(@Session() session: HttpSessionState, @Res() res: object) {
    session.set('user', 'ann');
    const raw = rawOf(res);
    raw.setHeader('x-user', 'ann');
    raw.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': 'auth=TOKEN; Path=/' });
    raw.end('signed in');
  }
}

describe.each(ADAPTERS)('an answer a handler sends itself, on %s', (adapter) => {
  let app: INestApplication;
  let store: FlakyStore;
  let gates: Gates;
  let http: ReturnType<INestApplication['getHttpServer']>;

  beforeEach(async () => {
    store = new FlakyStore();
    gates = new Gates();
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [HeldController],
      // NestJS's documented timeout interceptor, outer to the session's, for requests that ask for it.
      providers: [{ provide: Gates, useValue: gates }, ...withOuterTimeout.providers],
    });
    http = app.getHttpServer();
  });
  afterEach(async () => {
    gates.openAll();
    await app.close();
  });

  it('holds the lock until the answer ends: a request queued behind a streaming handler runs after it, and what the handler changed after its first chunk is saved', async () => {
    const cookie = sessionCookie((await request(http).post('/held/count').expect(201)).headers)!;
    const streaming = request(http)
      .post('/held/stream?gate=g')
      .set('Cookie', cookie)
      .buffer(true)
      .then((r) => r);
    await gates.arrived('g'); // it wrote its first chunk and parked, holding the session
    const locks = app.get(SessionStateLifecycle).locks;
    const queued = request(http)
      .post('/held/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await vi.waitFor(() => expect(locks.waiting(idOf(cookie))).toBe(1));
    gates.open('g');

    const [streamed, counted] = await Promise.all([streaming, queued]);
    expect(streamed.status).toBe(200);
    expect(streamed.text).toBe('first last');
    expect(counted.body).toEqual({ n: 3 });
    expect(app.get(HeldController).maxRunning).toBe(1);
    const stored = (await store.getItem(idOf(cookie))) as { kind: string; item?: { items: string } };
    expect(JSON.parse(stored.item!.items)).toEqual({ n: 3, late: 'after the first chunk' });
  });

  it('an outer timeout that gives up while the answer is held mid-way: the client gets the timeout (408), not a clean 200 of a partial answer; the lock is held until the handler settles, and its late changes are not saved', async () => {
    const cookie = sessionCookie((await request(http).post('/held/count').expect(201)).headers)!;
    const answer = await request(http).post('/held/stream?gate=t').set('Cookie', cookie).set('x-timeout-ms', '50');
    expect(answer.status).toBe(408);
    expect(answer.text).not.toContain('first');
    // The handler still runs, parked: its session stays locked (a request of the session queues).
    const locks = app.get(SessionStateLifecycle).locks;
    const queued = request(http)
      .post('/held/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await vi.waitFor(() => expect(locks.waiting(idOf(cookie))).toBe(1));
    gates.open('t');
    expect((await queued).body).toEqual({ n: 2 }); // the timed-out handler's change was discarded
    expect(app.get(HeldController).maxRunning).toBe(1);
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
  });

  it('a handler that throws after beginning an answer it never ended: the client gets the error, not the partial answer, and nothing is saved', async () => {
    const cookie = sessionCookie((await request(http).post('/held/count').expect(201)).headers)!;
    const answer = await request(http).post('/held/throw-mid-answer').set('Cookie', cookie);
    expect(answer.status).toBe(500);
    expect(answer.text).not.toContain('partial');
    const stored = (await store.getItem(idOf(cookie))) as { item?: { items: string } };
    expect(JSON.parse(stored.item!.items)).toEqual({ n: 1 });
  });

  it("a held answer whose session cannot be saved: the client gets the error, with none of the handler's headers", async () => {
    store.failSaves = true;
    const answer = await request(http).post('/held/login');
    expect(answer.status).toBe(503);
    expect(answer.headers['set-cookie']).toBeUndefined();
    expect(answer.headers['x-user']).toBeUndefined();
    expect(answer.text).not.toContain('signed in');
  });
});
