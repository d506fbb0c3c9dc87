/**
 * (Review R13) src/nest/complete-on-settle.ts holds a login's answer until its completion ended, so that an outer
 * `timeout()`'s 408 carries the new cookie (test/e2e/login-move-outer-timeout.e2e.spec.ts). Under
 * `mountSessionState` (the passport recipe), a route that writes is locked by the mount's guard, whose
 * held answer the interceptor lets go of when it adopts the lease (`adopt` → `guardAnswer.letGo()`):
 * `completeOnSettle` then gets that same, released answer back from `exchange.holdAnswer()`, and its
 * `release` is a no-op. The 408 goes out at once without the cookie, the removal lands, and the client
 * is left with the old id's marker: H24's bug, still there under the mount.
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { mountSessionState, SessionStateModule } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { timedOutDuringCompletion } from '../support/timed-out-request.js';
import { withOuterTimeout } from '../support/timeout.interceptor.js';
import { UnansweredRemovalStore } from '../support/unanswered-removal-store.js';
import { SessionTestController } from './fixtures/session-test.controller.js';

describe.each(ADAPTERS)('under mountSessionState, an outer timeout around a login whose removal is only slow (%s)', (adapter) => {
  let store: UnansweredRemovalStore;
  let gates: Gates;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  beforeEach(async () => {
    gates = new Gates();
    store = new UnansweredRemovalStore();
    store.gates = gates;
    app = await createTestApp(
      adapter,
      {
        imports: [SessionStateModule.forRoot({ store })],
        controllers: [SessionTestController],
        providers: [{ provide: Gates, useValue: gates }, ...withOuterTimeout.providers],
      },
      (a) => mountSessionState(a),
    );
  });
  afterEach(async () => {
    gates.openAll();
    await app.close();
  });

  it('the 408 carries the new cookie, which reaches the session (as without the mount)', async () => {
    const cookie = sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
    store.slow = true;
    const res = await timedOutDuringCompletion(app, gates, '/regenerate', cookie);
    const next = sessionCookie(res.headers) ?? cookie;
    const after = await http().get('/count').set('Cookie', next);
    expect({ status: res.status, newCookie: next !== cookie, count: after.body.count }).toEqual({ status: 408, newCookie: true, count: 1 });
  });
});
