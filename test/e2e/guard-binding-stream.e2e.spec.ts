import { Controller, Get, StreamableFile, UseGuards } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { request as httpRequest } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import { HttpSessionState, Session, SessionState, SessionStateBehavior, SessionStateGuard, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { ADAPTERS, createTestApp } from '../support/test-app.js';

/*
 * A streamed answer (StreamableFile, Nest's documented way to stream) on a guard-bound route: its
 * first output completes the session (the handler has settled: Nest sends its answer after it), so
 * the first chunk goes out, with the session's cookie, before the stream ends, and what follows
 * flows with the response's own backpressure. (Before, every output was held until end(): nothing
 * reached the client meanwhile, and the whole body piled up in memory.)
 */

const streams: PassThrough[] = [];
const lives: Readable[] = [];

/** Its next save fails as an unreachable store's would (a fault the in-memory store cannot show on cue). */
class FailingSaveStore extends InMemorySessionStateStore {
  failNextSave = false;
  override setAndReleaseItemExclusive(...args: Parameters<InMemorySessionStateStore['setAndReleaseItemExclusive']>): Promise<void> {
    if (!this.failNextSave) return super.setAndReleaseItemExclusive(...args);
    this.failNextSave = false;
    return Promise.reject(new SessionStateStoreUnavailableError('store down'));
  }
}

@Controller('gs')
@UseGuards(SessionStateGuard)
class StreamController {
  /** A download produced as it goes: its first chunk now, the rest when the test ends the stream. */
  @Get('export')
  @SessionState(SessionStateBehavior.Required)
  export(@Session() session: HttpSessionState) {
    session.set('exported', (session.get<number>('exported') ?? 0) + 1);
    const body = new PassThrough();
    streams.push(body);
    body.write('first chunk\n');
    return new StreamableFile(body, { type: 'text/plain' });
  }

  /** A stream that produces for as long as it is read (a live export): it keeps writing after an answer ends, until it is destroyed. */
  @Get('live')
  @SessionState(SessionStateBehavior.Required)
  live(@Session() session: HttpSessionState) {
    session.set('exported', (session.get<number>('exported') ?? 0) + 1);
    const body = new Readable({ read: () => void setImmediate(() => body.push('chunk\n')) });
    lives.push(body);
    return new StreamableFile(body, { type: 'text/plain' });
  }

  @Get('count')
  @SessionState(SessionStateBehavior.ReadOnly)
  count(@Session() session: HttpSessionState) {
    return { exported: session.get<number>('exported') ?? 0 };
  }
}

describe.each(ADAPTERS)('a streamed answer on a guard-bound route, on %s', (adapter) => {
  let app: INestApplication;
  let store: FailingSaveStore;
  beforeEach(async () => {
    store = new FailingSaveStore();
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [StreamController],
    });
    await app.listen(0, '127.0.0.1');
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) s.end();
    (app.getHttpServer() as import('node:http').Server).closeAllConnections();
    await app.close();
  });

  it('the first chunk reaches the client before the stream ends', async () => {
    const { port } = (app.getHttpServer() as import('node:http').Server).address() as { port: number };
    let cookie: string | undefined;
    const firstBytes = new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/gs/export' }, (res) => {
        cookie = res.headers['set-cookie']?.[0]?.split(';')[0]; // a new session: its cookie goes with the first bytes
        res.once('data', (chunk: Buffer) => resolve(chunk.toString()));
      });
      req.on('error', reject);
      req.end();
    });
    // Bounded wait for the event (the stream stays open meanwhile; held, the first chunk never comes).
    const outcome = await Promise.race([firstBytes, new Promise<string>((resolve) => setTimeout(() => resolve('nothing within 2 s'), 2000).unref())]);
    expect(outcome).toBe('first chunk\n');
    expect(cookie).toMatch(/^sid=/);
    expect(streams).toHaveLength(1);
    streams[0]!.end('last chunk\n');
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    // The session was saved before the first bytes went out: the next request of that cookie sees it.
    const { port: again } = (app.getHttpServer() as import('node:http').Server).address() as { port: number };
    const next = await fetch(`http://127.0.0.1:${again}/gs/count`, { headers: { cookie: cookie! } });
    expect(await next.json()).toEqual({ exported: 1 });
  });

  it("a save that fails answers the save's error in place of the stream, which is stopped; no lease left", async () => {
    const { port } = (app.getHttpServer() as import('node:http').Server).address() as { port: number };
    store.failNextSave = true;
    const answer = await fetch(`http://127.0.0.1:${port}/gs/live`);
    expect({ status: answer.status, body: await answer.json() }).toEqual({ status: 503, body: expect.objectContaining({ statusCode: 503 }) });
    // The stream produces for as long as it is read: it is stopped once the error's answer went out.
    await vi.waitFor(() => expect(lives[0]!.destroyed).toBe(true));
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
});
