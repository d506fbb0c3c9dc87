/**
 * An outer `timeout()` interceptor (NestJS's documented one, 408) around a login whose removal of the
 * old id is in flight when the timeout fires: the 408 goes out while the session's completion still
 * runs, without the login's cookie. Whatever the removal then does, no lock or lease is left behind,
 * the client never gets a 2xx, and the session lives under exactly one id (but for the documented
 * double fault: the removal and the release that would settle it both unanswered). Express and
 * Fastify, the default binding (the session interceptor, inner to the app's timeout).
 *
 * Found here (not fixed, `it.fails` below): when the removal lands after the 408, the login completes
 * under its new id, which the client never learns (the 408 carried no cookie), and its old id holds
 * only the move's marker: the client is left with no session it can reach (the data it had before
 * the login, here a count, is gone for it). The same without any fault, by a removal that is only slow.
 * README's "Outer interceptors and timeouts" names the window for a save (a retry may apply it twice);
 * for a login the cost is the session. The guard binding has no such window (last block): its
 * answer waits for the completion, which the handler's timeout does not reach.
 */
import { Controller, HttpCode, Post, UseGuards, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateGuard, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { withOuterTimeout } from '../support/timeout.interceptor.js';
import { UnansweredRemovalStore } from '../support/unanswered-removal-store.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { idOf } from './session-app.js';

/** The same login on the guard binding. */
@Controller('guarded')
@UseGuards(SessionStateGuard)
class GuardedLoginController {
  @Post('regenerate')
  @HttpCode(200)
  regenerate(@Session() s: HttpSessionState) {
    s.regenerateId();
    s.set('user', 'ann');
    return { changed: true };
  }
}

describe.each(ADAPTERS)('an outer timeout around a login whose removal of the old id is in flight (%s)', (adapter) => {
  let store: UnansweredRemovalStore;
  let gates: Gates;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  beforeEach(async () => {
    gates = new Gates();
    store = new UnansweredRemovalStore();
    store.gates = gates;
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [SessionTestController, GuardedLoginController],
      providers: [{ provide: Gates, useValue: gates }, ...withOuterTimeout.providers],
    });
  });
  afterEach(async () => {
    gates.openAll();
    await app.close();
  });

  /** The ids whose record holds the session (its count), with their locks. */
  const holders = () =>
    [...store.stored()].filter(([, record]) => JSON.parse(record.items).count === 1).map(([id, record]) => ({ id, locked: record.lockId !== null }));

  /**
   * A session with a count of 1 (its cookie), then a login of it (`regenerateId()`) timed out by the
   * app's `timeout()` while its removal of the old id is in flight; the removal goes on once the 408
   * is in. Answers when nothing of the request is left running.
   */
  async function loginTimedOutDuringRemoval(): Promise<{ cookie: string }> {
    const cookie = sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
    const login = http()
      .post('/regenerate')
      .set('Cookie', cookie)
      .set('x-timeout-ms', '100')
      .then((r) => r);
    await gates.arrived('removal');
    const res = await login;
    expect({ status: res.status, setCookie: res.headers['set-cookie'] ?? null }).toEqual({ status: 408, setCookie: null });
    gates.open('removal');
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    return { cookie };
  }

  it('the removal fails without landing: the move is undone, the session under its old id, unlocked; the client keeps it', async () => {
    store.fail = true;
    const { cookie } = await loginTimedOutDuringRemoval();
    expect(holders()).toEqual([{ id: idOf(cookie), locked: false }]);
    await http().get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    await http().post('/count').set('Cookie', cookie).expect(200, { count: 2 });
  });

  it.each([
    ['lands, its answer lost', { fail: true, lands: true }],
    ['is only slow (no fault)', { slow: true }],
  ])('the removal %s: the session under its new id only, unlocked; nothing left running', async (_label, faults) => {
    Object.assign(store, faults);
    const { cookie } = await loginTimedOutDuringRemoval();
    const [holder, ...others] = holders();
    expect({ locked: holder?.locked, others }).toEqual({ locked: false, others: [] });
    expect(holder!.id).not.toBe(idOf(cookie));
    expect(await store.getItem(idOf(cookie))).toEqual({ kind: 'absent', moved: true });
  });

  // BUG (reported, not fixed): the login completes under a new id after its 408 went out without the
  // cookie; the client's only cookie names the old id's marker: a read there is empty, a write 409.
  it.fails.each([
    ['lands, its answer lost', { fail: true, lands: true }],
    ['is only slow (no fault)', { slow: true }],
  ])('the removal %s: the client still reaches its session with the cookie it has', async (_label, faults) => {
    Object.assign(store, faults);
    const { cookie } = await loginTimedOutDuringRemoval();
    await http().get('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('the removal and the release that would settle it both unanswered (the documented double fault): under both ids, no lease left', async () => {
    Object.assign(store, { fail: true, blind: true });
    const { cookie } = await loginTimedOutDuringRemoval();
    const ids = holders().map((h) => h.id);
    expect(ids).toHaveLength(2);
    expect(ids).toContain(idOf(cookie));
    // The old record keeps the lock the failed release could not give back, until it is stale
    // (executionTimeout), as after any release that gets no answer.
    expect(holders().find((h) => h.id === idOf(cookie))?.locked).toBe(true);
  });

  describe('on the guard binding: the answer waits for the removal, and the timeout (around the handler) does not fire', () => {
    async function guardedLogin(): Promise<{ cookie: string; res: request.Response }> {
      const cookie = sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
      const login = http()
        .post('/guarded/regenerate')
        .set('Cookie', cookie)
        .set('x-timeout-ms', '100')
        .then((r) => r);
      await gates.arrived('removal');
      // Longer than the login's timeout: another request's own 408, timed from after the login's began.
      await http().post('/count?gate=tick').set('x-timeout-ms', '150').expect(408);
      gates.open('tick');
      gates.open('removal');
      const res = await login;
      await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
      return { cookie, res };
    }

    it('the removal lands, its answer lost: 200 with the new cookie, the session under it only', async () => {
      Object.assign(store, { fail: true, lands: true });
      const { cookie, res } = await guardedLogin();
      expect(res.status).toBe(200);
      const next = sessionCookie(res.headers)!;
      expect(holders()).toEqual([{ id: idOf(next), locked: false }]);
      expect(idOf(next)).not.toBe(idOf(cookie));
      await http().get('/count').set('Cookie', next).expect(200, { count: 1 });
    });

    it('the removal fails without landing: 503, no cookie, the session under its old id', async () => {
      store.fail = true;
      const { cookie, res } = await guardedLogin();
      expect({ status: res.status, setCookie: res.headers['set-cookie'] ?? null }).toEqual({ status: 503, setCookie: null });
      expect(holders()).toEqual([{ id: idOf(cookie), locked: false }]);
    });
  });
});
