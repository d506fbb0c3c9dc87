/**
 * A login (`regenerateId()`) whose lock was broken as stale is fenced out like any other save
 * (README "Fencing": 409, never an overwrite of newer data): its move is undone, and the write that
 * broke the stale lock (acknowledged 200) stays in the session the client's cookie names. Before
 * review R7 the move was written anyway (the old id's removal failing with lock_mismatch was only
 * logged), the login answered 200 with the new cookie, and that write was lost.
 */
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf, sessionApps } from '../e2e/session-app.js';

describe.each(ADAPTERS)('stale login over %s', (adapter) => {
  const { start, seeded } = sessionApps();

  it('a login whose lock was broken as stale is fenced out (409); the write acknowledged meanwhile is not lost', async () => {
    const store = new InMemorySessionStateStore();
    const a = await start(adapter, { store, executionTimeout: 0.2 });
    const http = a.app.getHttpServer();
    const cookie = await seeded(a);
    const login = request(http)
      .post('/regenerate?gate=stuck')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('stuck');
    // Queued behind the login; let through once the login's lock is stale, breaks it, saves.
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    a.gates.open('stuck');
    const answer = await login;
    // Whatever the login answers, the acknowledged increment must be in the session the client ends up with.
    const newCookie = sessionCookie(answer.headers) ?? cookie;
    const after = await request(http).get('/count').set('Cookie', newCookie);
    expect({ login: answer.status, count: after.body.count }).toEqual({ login: 409, count: 1 });
    expect(flat(await store.getItem(idOf(cookie))).locked).toBe(false);
    expect(a.activeLeases()).toBe(0);
  });
});
