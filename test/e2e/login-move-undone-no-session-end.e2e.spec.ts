/**
 * An undone login (its move's copy removed: the old id's lock was lost, 409, or its removal failed,
 * 503) reports no session end: the session lives on under its old id, and an app that cleans up at
 * Session_End (the in-memory store's `setItemExpireCallback`) must not do so for it. (Review R10: the
 * copy's removal reported one.)
 */
import request from 'supertest';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { RemoveItemOptions } from '../../src/store/session-state-store.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf, sessionApps } from '../e2e/session-app.js';

/** A removal of a moved session's old record that fails before it applies (the store answered an error). */
class RemovalFails extends InMemorySessionStateStore {
  fail = false;
  override async removeItem(id: string, lockId: string, options?: RemoveItemOptions): Promise<void> {
    if (this.fail && options?.moved) {
      this.fail = false;
      throw new SessionStateStoreUnavailableError('unreachable');
    }
    return super.removeItem(id, lockId, options);
  }
}

describe.each(ADAPTERS)('an undone login over %s', (adapter) => {
  const { start, seeded } = sessionApps();

  it('stale lock (409): no session end is reported, the session lives under its old id', async () => {
    const store = new InMemorySessionStateStore();
    const ended: string[] = [];
    store.setItemExpireCallback((id) => ended.push(id));
    const a = await start(adapter, { store, executionTimeout: 0.2 });
    const http = a.app.getHttpServer();
    const cookie = await seeded(a);
    const login = request(http)
      .post('/regenerate?gate=stuck')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('stuck');
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    a.gates.open('stuck');
    const answer = await login;
    expect(answer.status).toBe(409);
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(ended).toEqual([]);
  });

  it('old record still there after a failed removal (503): no session end is reported', async () => {
    const store = new RemovalFails();
    const ended: string[] = [];
    store.setItemExpireCallback((id) => ended.push(id));
    const a = await start(adapter, { store });
    const http = a.app.getHttpServer();
    const cookie = await seeded(a);
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    store.fail = true;
    const answer = await request(http).post('/regenerate').set('Cookie', cookie);
    expect({ status: answer.status, cookie: sessionCookie(answer.headers) }).toEqual({ status: 503, cookie: undefined });
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect({ ended, oldStored: (await store.getItem(idOf(cookie))).kind }).toEqual({ ended: [], oldStored: 'loaded' });
  });
});
