/**
 * The sequence behind lock-chaos's "the session lives under both its old id and its new one" in login
 * mode (H25): a login whose lock is broken as stale while its handler runs (a write breaks it, saves,
 * answers 200), and whose copy under the new id lands at the store but loses its answer. The login
 * fails (503, no Set-Cookie: a login names its new id only after the old one is removed), the old id
 * keeps the acknowledged write and stays the client's session, and the copy, which no answer named, is
 * removed (best effort: it lived on until it expired, a "device" in its owner's list). The same with
 * the client gone before that answer (the chaos run's shape).
 */
import request from 'supertest';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import type { SessionStateStoreData } from '../../src/store/session-state-store.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf, leaveAt, sessionApps } from '../e2e/session-app.js';

/** Lands the next new record (a login's copy), then fails its answer as a dropped connection would. */
class CopyAnswerLostStore extends InMemorySessionStateStore {
  failCopy = false;
  copies: string[] = [];
  override async setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    await super.setAndReleaseItemExclusive(id, item, lockId, newItem);
    if (!newItem || !this.failCopy) return;
    this.failCopy = false;
    this.copies.push(id);
    throw new SessionStateStoreUnavailableError('the answer of the copy was lost');
  }
}

describe.each(ADAPTERS)('a stale login whose copy loses its answer over %s', (adapter) => {
  const { start, seeded } = sessionApps();

  async function staleLogin(leave: boolean) {
    const store = new CopyAnswerLostStore();
    const a = await start(adapter, { store, executionTimeout: 0.2 });
    const http = a.app.getHttpServer();
    const cookie = await seeded(a);
    store.failCopy = true;
    let login: Promise<request.Response> | undefined;
    if (!leave)
      login = request(http)
        .post('/regenerate?gate=stuck')
        .set('Cookie', cookie)
        .then((r) => r);
    if (leave) await a.app.listen(0, '127.0.0.1');
    const left = leave ? leaveAt(a, '/regenerate?gate=stuck', cookie, 'stuck') : undefined;
    await a.gates.arrived('stuck');
    // Queued behind the login; let through once the login's lock is stale, breaks it, saves.
    const count = request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    if (left) await left;
    await count;
    a.gates.open('stuck');
    const answer = login ? await login : undefined;
    await vi.waitFor(() => expect(a.activeLeases()).toBe(0));
    return { a, http, store, cookie, answer };
  }

  it('answers 503 without a cookie; the old id keeps the acknowledged write, the copy no answer named is removed', async () => {
    const { http, store, cookie, answer } = await staleLogin(false);
    expect({ status: answer!.status, cookie: sessionCookie(answer!.headers) }).toEqual({ status: 503, cookie: undefined });
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(flat(await store.getItem(idOf(cookie))).locked).toBe(false);
    // The copy (the login's data before the write that broke its lock, under an id no client was given): gone.
    expect(store.copies).toHaveLength(1);
    expect(store.copies[0]).not.toBe(idOf(cookie));
    expect((await store.getItem(store.copies[0])).kind).toBe('absent');
  });

  it('with the client gone before the answer: the same, the old id still the session, the copy removed', async () => {
    const { http, store, cookie } = await staleLogin(true);
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(store.copies).toHaveLength(1);
    expect((await store.getItem(store.copies[0])).kind).toBe('absent');
    expect(flat(await store.getItem(idOf(cookie))).locked).toBe(false);
  });
});
