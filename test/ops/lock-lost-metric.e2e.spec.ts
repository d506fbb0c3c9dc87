import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { startMetricsProbe, type MetricsProbe } from '../support/metrics-reader.js';
import { sessionCookie } from '../support/test-app.js';
import { startOpsApp, type OpsApp } from './ops-app.js';

/*
 * docs/OPERATIONS.md: `session_state.lock.lost` counts the requests refused with 409 for their lock, a
 * write that comes with the old cookie within 10 s of a login (the moved marker: 409, the request not
 * run) included, as a `lock_lost` rejection (review R14 found the page said only fenced writes).
 */
let probe: MetricsProbe;
beforeAll(() => {
  probe = startMetricsProbe();
});
afterAll(() => probe.stop());

describe('OPERATIONS.md: session_state.lock.lost (express, memory)', () => {
  let t: OpsApp;
  afterEach(() => t?.close());

  it('a write with the old cookie after a login counts as a lock refusal (lock.lost and rejected{reason=lock_lost})', async () => {
    t = await startOpsApp('express', new InMemorySessionStateStore());
    const old = sessionCookie((await request(t.http).post('/seed').expect(200)).headers)!;
    await request(t.http).post('/login?owner=ann').set('Cookie', old).expect(200);
    const before = await probe.read();
    const refused = await request(t.http).post('/count').set('Cookie', old);
    expect(refused.status).toBe(409);
    const moved = await probe.since(before);
    expect(moved['session_state.request.rejected{reason=lock_lost}']).toBe(1);
    expect(moved['session_state.lock.lost{}']).toBe(1);
  });
});
