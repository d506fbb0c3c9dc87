/**
 * `shutdownTimeout` releases the lock of a request still running at shutdown. A login
 * whose mid-request save (`regenerate()` + `save()`) is in flight at that moment (its copy under the
 * new id inserted locked, its removal of the old id landed, its answer not back yet) goes on after the
 * release: it takes the new id's lock into a lease that shutdown already completed. Nobody releases
 * that lock; the new session is left locked (until it goes stale, executionTimeout) for every other
 * instance sharing the store. With `shutdownTimeout: 0` ("release at once") any login in flight
 * during a deploy hit this (review R27). Now the save that ends after shutdown completed its lease
 * releases the new id's lock itself (its cookie still goes out: the session is stored under it).
 */
import { Controller, HttpCode, Post, Req, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
  type RequestSession,
} from '../../src/index.js';
import type { RemoveItemOptions, SessionStateStoreData } from '../../src/store/session-state-store.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';

/** A store whose next move's removal lands, then its answer is held until the gate `landed` opens. */
class LateAnswerStore extends InMemorySessionStateStore {
  park = false;
  constructor(private readonly gates: Gates) {
    super();
  }
  parkInsert = false;
  override async setItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<string> {
    const locked = await super.setItemExclusive(id, item, lockId, newItem);
    if (this.parkInsert && newItem) {
      this.parkInsert = false;
      await this.gates.pass('landed');
    }
    return locked;
  }
  override async removeItem(id: string, lockId: string, options?: RemoveItemOptions): Promise<void> {
    await super.removeItem(id, lockId, options);
    if (this.park && options?.moved) {
      this.park = false;
      await this.gates.pass('landed');
    }
  }
  stored(): Map<string, { lockId: string | null }> {
    return (this as unknown as { records: Map<string, { lockId: string | null }> }).records;
  }
}

@Controller()
class LoginCtl {
  @SessionState(SessionStateBehavior.Required)
  @Post('inc')
  @HttpCode(200)
  inc(@Req() req: { session: RequestSession }) {
    const n = ((req.session.get('n') as number | undefined) ?? 0) + 1;
    req.session.set('n', n);
    return { n };
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('login')
  @HttpCode(200)
  async login(@Req() req: { session: RequestSession }) {
    await req.session.regenerate();
    req.session.set('user', 'ann');
    await req.session.save();
    return { ok: true };
  }

  /** A first visit that saves mid-request (its new session inserted locked). */
  @SessionState(SessionStateBehavior.Required)
  @Post('first')
  @HttpCode(200)
  async first(@Req() req: { session: RequestSession }) {
    req.session.set('cart', ['tea']);
    await req.session.save();
    return { ok: true };
  }
}

function createApp(adapter: AdapterName, store: InMemorySessionStateStore): Promise<INestApplication> {
  return createTestApp(
    adapter,
    { imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' }, executionTimeout: 30, shutdownTimeout: 0 })], controllers: [LoginCtl] },
    mountSessionState,
  );
}

describe.each(ADAPTERS)('shutdown (shutdownTimeout: 0) during a login saved mid-request, over %s', (adapter) => {
  it('leaves no lock behind on either id: the other instance sharing the store serves the session at once', async () => {
    const gates = new Gates();
    const store = new LateAnswerStore(gates);
    const a = await createApp(adapter, store);
    const b = await createApp(adapter, store);
    try {
      const cookie = sessionCookie((await request(a.getHttpServer()).post('/inc').expect(200)).headers)!;
      store.park = true;
      const login = request(a.getHttpServer())
        .post('/login')
        .set('Cookie', cookie)
        .then((r) => r);
      await gates.arrived('landed');
      const closed = a.close();
      // Shutdown released the old id's lock (already removed by the landed move) and completed the lease.
      await vi.waitFor(() => expect(a.get(SessionStateLifecycle).activeLeases).toBe(0));
      gates.open('landed');
      const answer = await login;
      await closed;
      const locked = [...store.stored()].filter(([, r]) => r.lockId !== null).map(([id]) => (id === cookie.slice(4) ? 'old' : 'new'));
      const newCookie = sessionCookie(answer.headers);
      const started = Date.now();
      const next = newCookie
        ? await request(b.getHttpServer())
            .post('/inc')
            .set('Cookie', newCookie)
            .timeout(3000)
            .then(
              (r) => r.status,
              () => 'timed out',
            )
        : 'no cookie';
      expect({ status: answer.status, lockedIds: locked, nextOnOtherInstance: next, waitedMs: Date.now() - started < 1000 }).toEqual({
        status: answer.status === 200 ? 200 : 503,
        lockedIds: [],
        nextOnOtherInstance: newCookie ? 200 : 'no cookie',
        waitedMs: true,
      });
    } finally {
      gates.openAll();
      await b.close();
    }
  }, 20_000);

  it('a first visit saved mid-request: leaves its new session unlocked', async () => {
    const gates = new Gates();
    const store = new LateAnswerStore(gates);
    const a = await createApp(adapter, store);
    const b = await createApp(adapter, store);
    try {
      store.parkInsert = true;
      const first = request(a.getHttpServer())
        .post('/first')
        .then((r) => r);
      await gates.arrived('landed');
      const closed = a.close();
      await vi.waitFor(() => expect(a.get(SessionStateLifecycle).activeLeases).toBe(0));
      gates.open('landed');
      const answer = await first;
      await closed;
      const locked = [...store.stored()].filter(([, r]) => r.lockId !== null).length;
      expect({ status: answer.status, lockedSessions: locked }).toEqual({ status: answer.status, lockedSessions: 0 });
    } finally {
      gates.openAll();
      await b.close();
    }
  }, 20_000);
});
