/**
 * (Review R13) a login refused by `maxSessionsPerOwner` ('refuse') while an outer `timeout()`'s 408
 * is held (src/nest/complete-on-settle.ts): the client gets the cap's refusal in place of the 408, without a cookie,
 * and keeps its session under its old id; nothing left leased. Express and Fastify.
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { timedOutDuringCompletion } from '../support/timed-out-request.js';
import { withOuterTimeout } from '../support/timeout.interceptor.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { OwnerCapController } from './fixtures/owner-cap.controller.js';

/** An in-memory store whose next owner claim waits at the gate 'claim'. */
class SlowClaimStore extends InMemorySessionStateStore {
  gates: Gates | undefined;
  override async claimOwnerSlot(...args: Parameters<InMemorySessionStateStore['claimOwnerSlot']>) {
    const gates = this.gates;
    this.gates = undefined;
    await gates?.pass('claim');
    return super.claimOwnerSlot(...args);
  }
}

describe.each(ADAPTERS)('an outer timeout around a login the owner cap refuses (%s)', (adapter) => {
  let app: INestApplication;
  let gates: Gates;
  let store: SlowClaimStore;
  const http = () => request(app.getHttpServer());
  beforeEach(async () => {
    gates = new Gates();
    store = new SlowClaimStore();
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store, maxSessionsPerOwner: 1, ownerCapPolicy: 'refuse' })],
      controllers: [SessionTestController, OwnerCapController],
      providers: [{ provide: Gates, useValue: gates }, ...withOuterTimeout.providers],
    });
  });
  afterEach(async () => {
    gates.openAll();
    await app.close();
  });

  it('the refusal replaces the held 408, without a cookie; the old session stays', async () => {
    await http().post('/login?user=u1').expect(200); // device A takes the owner's one place
    const old = sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
    // Without a timeout, the refusal's answer (what the client gets in place of the 408).
    store.gates = undefined;
    const plain = await http().post('/login?user=u1').set('Cookie', old);
    store.gates = gates;
    const res = await timedOutDuringCompletion(app, gates, '/login?user=u1', old, 'claim');
    expect(plain.status).toBeGreaterThanOrEqual(400);
    expect({ status: res.status, body: res.body as unknown, setCookie: res.headers['set-cookie'] ?? null }).toEqual({
      status: plain.status,
      body: plain.body as unknown,
      setCookie: null,
    });
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    await http().get('/count').set('Cookie', old).expect(200, { count: 1 });
  });
});
