/**
 * Review R28: shutdown, and a client that leaves, while a @Res() handler waits for its req.session
 * call's callback to answer (the call's save parked in the store).
 */
import { Controller, Post, Req, Res } from '@nestjs/common';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
  type RequestSession,
} from '../../src/index.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { sendStatus, type EitherResponse } from '../support/send-status.js';
import { idOf } from './session-app.js';
import { Gates } from '../support/gates.js';
import { leavingClient, listening } from '../support/leaving-client.js';
import type { Server } from 'node:http';

type Sess = RequestSession & { set(k: string, v: unknown): void; get(k: string): unknown };
let gates = new Gates();
let park = false;
class ParkingStore extends InMemorySessionStateStore {
  override async setItemExclusive(...args: Parameters<InMemorySessionStateStore['setItemExclusive']>): Promise<string> {
    if (park) {
      park = false;
      await gates.pass('save');
    }
    return super.setItemExclusive(...args);
  }
}

@Controller('x')
class C {
  @SessionState(SessionStateBehavior.Required)
  @Post('seed')
  seed(@Req() req: { session: Sess }, @Res() res: EitherResponse) {
    req.session.set('n', 1);
    sendStatus(res, 201, 'ok');
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('slow')
  slow(@Req() req: { session: Sess }, @Res() res: EitherResponse) {
    req.session.set('n', 2);
    park = true;
    void req.session.save((e) => (e ? sendStatus(res, 500, (e as Error).message) : sendStatus(res, 200, 'saved')));
  }
}

describe.each(ADAPTERS)('shutdown / client leaving while a @Res() handler waits for its callback (%s)', (adapter) => {
  it('shutdown past shutdownTimeout: the answer is not a success, app.close() ends, no lock left', async () => {
    gates = new Gates();
    const store = new ParkingStore();
    const app = await createTestApp(
      adapter,
      { imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' }, executionTimeout: 20, shutdownTimeout: 0.2 })], controllers: [C] },
      (a) => mountSessionState(a),
    );
    await listening(app.getHttpServer() as Server);
    const cookie = sessionCookie((await request(app.getHttpServer()).post('/x/seed').expect(201)).headers)!;
    const slow = request(app.getHttpServer())
      .post('/x/slow')
      .set('Cookie', cookie)
      .timeout(5000)
      .then(
        (r) => r,
        (e: unknown) => ({ status: -1, text: (e as Error).message }),
      );
    await gates.arrived('save');
    const started = Date.now();
    const closed = app.close();
    // Past shutdownTimeout the waiting handler's lease is released.
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    gates.open('save');
    const r = await slow;
    await closed;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect((await store.getItem(idOf(cookie))).kind).not.toBe('locked');
  });

  it('a client that leaves while the handler waits: the lock is released once the callback answers, not held until stale', async () => {
    gates = new Gates();
    const store = new ParkingStore();
    const app = await createTestApp(
      adapter,
      { imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' }, executionTimeout: 20 })], controllers: [C] },
      (a) => mountSessionState(a),
    );
    try {
      await listening(app.getHttpServer() as Server);
      const cookie = sessionCookie((await request(app.getHttpServer()).post('/x/seed').expect(201)).headers)!;
      const client = leavingClient(app.getHttpServer() as Server, { path: '/x/slow', cookie });
      await gates.arrived('save');
      client.leave();
      await client.closedOnServer;
      gates.open('save');
      await vi.waitFor(async () => expect((await store.getItem(idOf(cookie))).kind).toBe('loaded'), { timeout: 2000, interval: 50 });
      const next = await request(app.getHttpServer()).post('/x/seed').set('Cookie', cookie).timeout(2000);
      expect(next.status).toBe(201);
    } finally {
      gates.openAll();
      await app.close();
    }
  });
});
