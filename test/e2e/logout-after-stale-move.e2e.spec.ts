/**
 * A logout (`abandon()`) whose lock was broken as stale and whose session a login (another tab) then
 * moved to a new id (found by review R15). Its removal finds the old id gone; once the move's marker
 * (MOVED_MARKER_MS, 10 s) has passed, the store cannot tell a move from a revocation. A logout that
 * answered 200 there would clear the cookie while the signed-in session lives on under its new id. It
 * answers 409 (as any request whose lock was broken): a logout takes "gone" for done only while its
 * lock cannot have been broken (lifecycle `removeEnded`).
 */
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { ADAPTERS, sessionCookie, sessionSetCookie } from '../support/test-app.js';
import { idOf, sessionApps } from './session-app.js';

describe.each(ADAPTERS)('a logout whose stale lock a login broke, moving the session, over %s', (adapter) => {
  const { start, seeded } = sessionApps();

  it('answers 409 and leaves the cookie, the moved, signed-in session alive', async () => {
    let offset = 0;
    const store = new InMemorySessionStateStore({ clock: () => Date.now() + offset });
    const a = await start(adapter, { store, executionTimeout: 0.2 });
    const http = a.app.getHttpServer();
    const cookie = await seeded(a);
    const logout = request(http)
      .post('/abandon?gate=stuck')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('stuck');
    // A login with the same cookie (another tab): queued, breaks the logout's stale lock, moves the session.
    const login = await request(http).post('/regenerate').set('Cookie', cookie).expect(200, { changed: true });
    const moved = sessionCookie(login.headers)!;
    expect(idOf(moved)).not.toBe(idOf(cookie));
    // The move's marker (10 s) has passed by the time the logout's handler returns.
    offset = 11_000;
    a.gates.open('stuck');
    const answer = await logout;
    const signedInLives = (await store.getItem(idOf(moved))).kind !== 'absent';
    expect({
      logout: answer.status,
      cleared: (sessionSetCookie(answer.headers) ?? '').startsWith('sid=;'),
      signedInLives,
    }).toEqual({ logout: 409, cleared: false, signedInLives: true });
  });
});
