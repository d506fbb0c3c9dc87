/**
 * An outer `timeout()` interceptor (NestJS's documented one, 408) around a login whose removal of the
 * old id is in flight when the timeout fires. Found by a helper (H24): the 408 went out while the
 * session's completion still ran, without the login's cookie; when the removal then landed, the login
 * completed under a new id the client never learnt, and its only cookie named the old id's marker: the
 * client was left with no session it could reach. A login's answer is now held until its completion
 * ended (src/nest/complete-on-settle.ts): the 408 carries the new cookie, or, when the move is undone,
 * the completion's own error (503) replaces it. Never a lock or lease left behind, and the session lives
 * under exactly one id (but for the documented double fault: the removal and the release that would
 * settle it both unanswered). Express and Fastify, the default binding (the session interceptor, inner to
 * the app's timeout), and the guard binding (its answer always waited for the completion).
 */
import { Controller, HttpCode, Post, UseGuards, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateGuard, SessionStateModule } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { timedOutDuringCompletion } from '../support/timed-out-request.js';
import { withOuterTimeout } from '../support/timeout.interceptor.js';
import { UnansweredRemovalStore } from '../support/unanswered-removal-store.js';
import { AllowedGuard, LoadingGuard, SessionTestController } from './fixtures/session-test.controller.js';
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

/** The same login behind two guards that load the session (the interceptor binding still completes it). */
@Controller('two-guards')
@UseGuards(LoadingGuard, AllowedGuard)
class TwoGuardsLoginController {
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
      controllers: [SessionTestController, GuardedLoginController, TwoGuardsLoginController],
      providers: [{ provide: Gates, useValue: gates }, LoadingGuard, AllowedGuard, ...withOuterTimeout.providers],
    });
  });
  afterEach(async () => {
    gates.openAll();
    await app.close();
  });

  /** The ids whose record holds the session (its count), with their locks. */
  const holders = () =>
    [...store.stored()].filter(([, record]) => JSON.parse(record.items).count === 1).map(([id, record]) => ({ id, locked: record.lockId !== null }));

  describe.each([
    ['a plain login route', '/regenerate'],
    ['a login behind two guards that load the session (one acquisition, completed by the interceptor)', '/two-guards/regenerate'],
  ])('%s', (_route, path) => {
    /**
     * A session with a count of 1 (its cookie), then a login of it (`regenerateId()`) timed out by the
     * app's `timeout()` while its removal of the old id is in flight; the removal goes on once the
     * timeout fired. Answers the login's answer once nothing of the request is left running.
     */
    async function loginTimedOutDuringRemoval(): Promise<{ cookie: string; res: request.Response }> {
      const cookie = sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
      // Lets the two guards' route through (AllowedGuard); the plain route ignores it.
      await http().post('/allow').set('Cookie', cookie).expect(200);
      return { cookie, res: await timedOutDuringCompletion(app, gates, path, cookie) };
    }

    it('the removal fails without landing: the move is undone, 503 without a cookie in place of the 408; the client keeps its session', async () => {
      store.fail = true;
      const { cookie, res } = await loginTimedOutDuringRemoval();
      expect({ status: res.status, setCookie: res.headers['set-cookie'] ?? null }).toEqual({ status: 503, setCookie: null });
      expect(holders()).toEqual([{ id: idOf(cookie), locked: false }]);
      await http().get('/count').set('Cookie', cookie).expect(200, { count: 1 });
      await http().post('/count').set('Cookie', cookie).expect(200, { count: 2 });
    });

    it.each([
      ['lands, its answer lost', { fail: true, lands: true }],
      ['is only slow (no fault)', { slow: true }],
    ])('the removal %s: the 408 carries the new cookie, which reaches the session, under its new id only', async (_label, faults) => {
      Object.assign(store, faults);
      const { cookie, res } = await loginTimedOutDuringRemoval();
      expect(res.status).toBe(408);
      const next = sessionCookie(res.headers)!;
      expect(idOf(next)).not.toBe(idOf(cookie));
      expect(holders()).toEqual([{ id: idOf(next), locked: false }]);
      expect(await store.getItem(idOf(cookie))).toEqual({ kind: 'absent', moved: true });
      await http().get('/count').set('Cookie', next).expect(200, { count: 1 });
      await http().post('/count').set('Cookie', next).expect(200, { count: 2 });
    });

    it('the removal and the release that would settle it both unanswered (the documented double fault): under both ids, no lease left', async () => {
      Object.assign(store, { fail: true, always: true, blind: true }); // the removal sent again: no answer either
      const { cookie, res } = await loginTimedOutDuringRemoval();
      expect(res.status).toBe(408);
      const ids = holders().map((h) => h.id);
      expect(ids).toHaveLength(2);
      expect(ids).toContain(idOf(cookie));
      // The old record keeps the lock the failed release could not give back, until it is stale
      // (executionTimeout), as after any release that gets no answer.
      expect(holders().find((h) => h.id === idOf(cookie))?.locked).toBe(true);
    });
  });

  describe('on the guard binding: the answer waits for the removal, and the timeout (around the handler) does not fire', () => {
    async function guardedLogin(): Promise<{ cookie: string; res: request.Response }> {
      const cookie = sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
      return { cookie, res: await timedOutDuringCompletion(app, gates, '/guarded/regenerate', cookie) };
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
