/**
 * Read-only requests of one session that find its lock held by another instance wait as writers do:
 * one of them reads the store for all (polling, or the release notice), the others queue behind it in
 * their process, counted by `lockWait.maxQueueLength` (beyond: 503 with Retry-After). Before, each
 * polled the store on its own, without a cap: 40 read-only messages made 1,095 reads in a second and
 * none was refused (review R18).
 */
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { ADAPTERS } from '../support/test-app.js';
import { holdAtGate, idOf, sessionApps } from './session-app.js';

describe.each(ADAPTERS)("read-only requests waiting for another instance's lock, over %s", (adapter) => {
  const { start, seeded } = sessionApps();

  it('queue in their instance up to lockWait.maxQueueLength (beyond: 503), one reading the store for all; all served once the lock is released', async () => {
    const store = new InMemorySessionStateStore();
    const a = await start(adapter, { store });
    const b = await start(adapter, { store, lockWait: { maxQueueLength: 10 } });
    const cookie = await seeded(a);
    const held = await holdAtGate(a, cookie);
    const http = b.app.getHttpServer();
    const readers = Array.from({ length: 15 }, () =>
      request(http)
        .get('/count')
        .set('Cookie', cookie)
        .then((r) => r),
    );
    // One waits at the store, ten in the queue; four are refused at once.
    await vi.waitFor(() => expect(b.waiting(idOf(cookie))).toBe(10));
    b.counter.reset();
    await vi.waitFor(() => expect(b.counter.total()).toBeGreaterThanOrEqual(5)); // the polls go on...
    expect(b.waiting(idOf(cookie))).toBe(10); // ...by the one at the store: the queue is whole
    a.gates.open('hold');
    await held.answer;
    const answers = await Promise.all(readers);
    const refused = answers.filter((r) => r.status === 503);
    expect({ served: answers.filter((r) => r.status === 200 && r.body.count === 1).length, refused: refused.length }).toEqual({
      served: 11,
      refused: 4,
    });
    for (const r of refused) expect(r.headers['retry-after']).toBe('1');
    expect(b.coordinatorEntries()).toBe(0);
  });
});
