import { request as httpRequest } from 'node:http';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { HttpSessionState } from '../../src/session/http-session-state.js';
import { ADAPTERS, sessionCookie, sessionSetCookie } from '../support/test-app.js';
import { holdAtGate, idOf, leaveAt, queueBehind, startSessionApp, type SessionApp } from './session-app.js';
import { flat } from '../../src/testing/flat-store-answer.js';

describe.each(ADAPTERS)('session lifecycle over %s', (adapter) => {
  let t: SessionApp;
  let http: any;

  beforeEach(async () => {
    t = await startSessionApp(adapter);
    http = t.app.getHttpServer();
  });
  afterEach(async () => {
    await t.app.close();
  });

  /** A stored session: its cookie pair. */
  async function seeded(): Promise<string> {
    const res = await request(http).post('/seed').expect(200);
    const cookie = sessionCookie(res.headers);
    expect(cookie).toBeDefined();
    return cookie!;
  }

  it('50 concurrent increments of one session end at exactly 50 (express-session and other last-writer-wins stores lose most of them)', async () => {
    const cookie = await seeded();
    const responses = await Promise.all(Array.from({ length: 50 }, () => request(http).post('/count').set('Cookie', cookie).expect(200)));
    const counts = responses.map((r) => r.body.count).sort((a, b) => a - b);
    expect(counts).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect((await request(http).get('/count').set('Cookie', cookie).expect(200)).body).toEqual({ count: 50 });
  });

  it('a handler without @Session() makes no store call and sets no cookie', async () => {
    const cookie = await seeded();
    t.counter.reset();
    const res = await request(http).get('/free').set('Cookie', cookie).expect(200, 'free');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(t.counter.total()).toBe(0);
  });

  it('store calls per request: changed 2, unchanged 2, read-only 1, new session 1, new and empty 0, abandon 2', async () => {
    const cookie = await seeded();
    const expectCalls = async (send: () => Promise<unknown>, calls: Record<string, number>) => {
      t.counter.reset();
      await send();
      expect(t.counter.calls).toEqual(calls);
    };
    await expectCalls(() => request(http).post('/count').set('Cookie', cookie).expect(200), {
      getItemExclusive: 1,
      setAndReleaseItemExclusive: 1,
    });
    await expectCalls(() => request(http).post('/touch').set('Cookie', cookie).expect(200), {
      getItemExclusive: 1,
      releaseItemExclusive: 1,
    });
    await expectCalls(() => request(http).get('/count').set('Cookie', cookie).expect(200), { getItem: 1 });
    await expectCalls(() => request(http).post('/count').expect(200), { setAndReleaseItemExclusive: 1 });
    await expectCalls(() => request(http).post('/touch').expect(200), {});
    await expectCalls(() => request(http).post('/abandon').set('Cookie', cookie).expect(200), {
      getItemExclusive: 1,
      removeItem: 1,
    });
  });

  it('a read-write request that wrote nothing and was handed no object is not serialised to find it unchanged; one handed an object is', async () => {
    const cookie = await seeded();
    const serialised = vi.spyOn(HttpSessionState.prototype, 'serializeItems');
    try {
      await request(http).post('/touch').set('Cookie', cookie).expect(200);
      expect(serialised).not.toHaveBeenCalled();
      await request(http).post('/nested').set('Cookie', cookie).expect(200);
      expect(serialised).toHaveBeenCalledTimes(1);
    } finally {
      serialised.mockRestore();
    }
  });

  it('a new, still empty session stores nothing and sets no cookie', async () => {
    const res = await request(http).post('/touch').expect(200, { size: 0 });
    expect(res.headers['set-cookie']).toBeUndefined();
    const read = await request(http).get('/count').expect(200, { count: 0 });
    expect(read.headers['set-cookie']).toBeUndefined();
  });

  it('sets an HttpOnly, Path=/, SameSite=Lax cookie with a 192-bit URL-safe id, not Secure over plain HTTP', async () => {
    const res = await request(http).post('/count').expect(200);
    const line = sessionSetCookie(res.headers)!;
    expect(line).toMatch(/^sid=[A-Za-z0-9_-]{32}; Path=\/; HttpOnly; SameSite=Lax$/);
  });

  it('read-only requests see the writes of the request before (saved before the response went out)', async () => {
    const cookie = await seeded();
    for (let i = 1; i <= 5; i++) {
      await request(http).post('/count').set('Cookie', cookie).expect(200, { count: i });
      await request(http).get('/count').set('Cookie', cookie).expect(200, { count: i });
    }
  });

  it('read-only requests of one session do not block each other', async () => {
    const cookie = await seeded();
    // Each reader parks in its handler until the test opens its gate: the second can only
    // arrive while the first is still in its handler if readers take no lock.
    const first = request(http)
      .get('/count?gate=r1')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('r1');
    const second = request(http)
      .get('/count?gate=r2')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('r2');
    t.gates.open('r2');
    expect((await second).status).toBe(200);
    t.gates.open('r1');
    expect((await first).status).toBe(200);
  });

  it('a read-only request waits for the writer holding the lock and reads its write', async () => {
    const cookie = await seeded();
    const writer = await holdAtGate(t, cookie, 'w');
    const [reader] = await queueBehind(t, cookie, (h) => h.get('/count'));
    t.gates.open('w');
    expect((await writer.answer).body).toEqual({ count: 1 });
    expect((await reader).body).toEqual({ count: 1 });
  });

  it("@SessionState on a controller applies to its handlers; a handler's own declaration wins", async () => {
    const cookie = await seeded();
    t.counter.reset();
    await request(http).get('/readonly-controller').set('Cookie', cookie).expect(200, { readOnly: true, count: 0 });
    expect(t.counter.calls).toEqual({ getItem: 1 });
    await request(http).post('/readonly-controller').set('Cookie', cookie).expect(200, { readOnly: false, count: 1 });
    await request(http).get('/readonly-controller').set('Cookie', cookie).expect(200, { readOnly: true, count: 1 });
  });

  it('a request aborted while waiting for the lock leaves the queue', async () => {
    const cookie = await seeded();
    await t.app.listen(0, '127.0.0.1');
    const { port } = t.app.getHttpServer().address();
    const holder = request(http)
      .post('/count?gate=hold')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('hold');
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/count', headers: { cookie }, agent: false });
    req.on('error', () => {});
    req.end();
    await vi.waitFor(() => expect(t.waiting(idOf(cookie))).toBe(1));
    req.destroy();
    await vi.waitFor(() => expect(t.waiting(idOf(cookie))).toBe(0));
    t.gates.open('hold');
    expect((await holder).body).toEqual({ count: 1 });
    // The aborted request never ran its handler.
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('a handler that throws has its changes discarded and does not block the next request', async () => {
    const cookie = await seeded();
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    t.counter.reset();
    await request(http).post('/throw').set('Cookie', cookie).expect(400);
    expect(t.counter.calls).toEqual({ getItemExclusive: 1, releaseItemExclusive: 1 });
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
  });

  it('a handler that throws synchronously: its changes discarded, the lock released', async () => {
    const cookie = await seeded();
    t.counter.reset();
    await request(http).post('/throw-sync').set('Cookie', cookie).expect(400);
    expect(t.counter.calls).toEqual({ getItemExclusive: 1, releaseItemExclusive: 1 });
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('a pipe that throws: the lock released (the interceptor loaded the session before the pipes ran), nothing saved', async () => {
    const cookie = await seeded();
    t.counter.reset();
    await request(http).post('/pipe-fails?n=abc').set('Cookie', cookie).expect(400);
    expect(t.counter.calls).toEqual({ getItemExclusive: 1, releaseItemExclusive: 1 });
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('a guard loaded the session, then a pipe refuses: the lock is released as the answer goes out, nothing saved', async () => {
    const cookie = await seeded();
    t.counter.reset();
    await request(http).post('/guarded-pipe-fails?n=abc').set('Cookie', cookie).expect(400);
    await vi.waitFor(() => expect(t.activeLeases()).toBe(0));
    expect(t.counter.calls).toEqual({ getItemExclusive: 1, releaseItemExclusive: 1 });
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('a handler returning an Observable: the session is saved once it completes, and the next request waits for it', async () => {
    const cookie = await seeded();
    const first = request(http)
      .post('/count-stream?gate=stream')
      .set('Cookie', cookie)
      .then((r) => r);
    await t.gates.arrived('stream');
    const [second] = await queueBehind(t, cookie, (h) => h.post('/count'));
    t.gates.open('stream');
    expect((await first).body).toEqual({ count: 1 });
    expect((await second).body).toEqual({ count: 2 });
  });

  it('@Session() taken twice by one handler: one session, saved once', async () => {
    const cookie = await seeded();
    t.counter.reset();
    await request(http).post('/count-twice?by=5').set('Cookie', cookie).expect(200, { count: 5 });
    expect(t.counter.calls).toEqual({ getItemExclusive: 1, setAndReleaseItemExclusive: 1 });
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 5 });
  });

  it('a guard gets the session through SessionStateAccessor; a refusal releases the lock', async () => {
    const cookie = await seeded();
    await request(http).post('/guarded').set('Cookie', cookie).expect(403);
    // Not blocked: the refused request's lock was released when its response ended.
    await request(http).post('/allow').set('Cookie', cookie).expect(200);
    t.counter.reset();
    await request(http).post('/guarded').set('Cookie', cookie).expect(200, { count: 1 });
    // One acquisition shared by the guard and the handler.
    expect(t.counter.calls).toEqual({ getItemExclusive: 1, setAndReleaseItemExclusive: 1 });
  });

  it('a client that leaves while a guard works: the session the guard then loads is released', async () => {
    const cookie = await seeded();
    await t.app.listen(0, '127.0.0.1');
    await leaveAt(t, '/slow-guarded', cookie, 'slow-guard');
    const released = t.counter.next('releaseItemExclusive');
    t.gates.open('slow-guard'); // the guard now loads the session of a request nobody waits for
    await released;
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('nested mutation of a value read from the session is saved', async () => {
    const cookie = await seeded();
    await request(http)
      .post('/nested')
      .set('Cookie', cookie)
      .expect(200, { list: [0] });
    await request(http)
      .post('/nested')
      .set('Cookie', cookie)
      .expect(200, { list: [0, 1] });
    await request(http)
      .post('/nested')
      .set('Cookie', cookie)
      .expect(200, { list: [0, 1, 2] });
  });

  it('writes to a read-only session, nested ones included, fail clearly and change nothing', async () => {
    const cookie = await seeded();
    await request(http).post('/nested').set('Cookie', cookie).expect(200);
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
    try {
      await request(http).get('/readonly-write').set('Cookie', cookie).expect(500);
      await request(http).get('/readonly-nested-write').set('Cookie', cookie).expect(500);
      // Both are the README's SessionStateReadOnlyError with its advice (a nested one was a frozen object's TypeError).
      const logged = error.mock.calls.map((args) => args.map(String).join(' '));
      expect(logged).toHaveLength(2);
      for (const line of logged)
        expect(line).toMatch(
          /SessionStateReadOnlyError: This session is read-only for this handler: use @SessionState\(SessionStateBehavior.Required\)/,
        );
    } finally {
      error.mockRestore();
    }
    await request(http)
      .post('/nested')
      .set('Cookie', cookie)
      .expect(200, { list: [0, 1] });
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 0 });
  });

  it('regenerateId() moves the data to a new id and removes the old one', async () => {
    const cookie = await seeded();
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    const res = await request(http).post('/regenerate').set('Cookie', cookie).expect(200, { changed: true });
    const renewed = sessionCookie(res.headers)!;
    expect(renewed).toMatch(/^sid=[A-Za-z0-9_-]{32}$/);
    expect(renewed).not.toBe(cookie);
    await request(http).get('/count').set('Cookie', renewed).expect(200, { count: 1 });
    expect(flat(await t.store.getItem(idOf(renewed))).item?.items).toContain('"user":"ann"');
    expect(flat(await t.store.getItem(idOf(cookie))).item).toBeNull();
  });

  it('abandon() removes the session and clears the cookie; the next request starts afresh', async () => {
    const cookie = await seeded();
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    const res = await request(http).post('/abandon').set('Cookie', cookie).expect(200);
    expect(sessionSetCookie(res.headers)).toMatch(/^sid=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT/);
    expect(flat(await t.store.getItem(idOf(cookie))).item).toBeNull();
    const next = await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(sessionCookie(next.headers)).not.toBe(cookie);
  });

  it.each([
    ['garbage', 'sid=garbage'],
    ['empty', 'sid='],
    ['oversized', `sid=${'a'.repeat(4096)}`],
    ['badly percent-encoded', 'sid=%E0%A4%A'],
    ['well-formed but unknown', `sid=${'A'.repeat(32)}`],
    ['path traversal', 'sid=../../etc/passwd'],
  ])('a %s cookie reads as no cookie: a new session, never a 500', async (_kind, cookie) => {
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 0 });
    const res = await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    const fresh = sessionCookie(res.headers)!;
    expect(fresh).toMatch(/^sid=[A-Za-z0-9_-]{32}$/);
    expect(fresh).not.toBe(cookie);
  });

  it('a stored session that cannot be read is replaced by a new session, and its lock released', async () => {
    const cookie = await seeded();
    const id = idOf(cookie);
    const { lockId } = flat(await t.store.getItemExclusive(id));
    await t.store.setAndReleaseItemExclusive(id, { items: 'not json', timeout: 20 }, lockId, false);
    const res = await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(sessionCookie(res.headers)).not.toBe(cookie);
    const old = flat(await t.store.getItem(id));
    expect(old.locked).toBe(false);
    expect(old.item?.items).toBe('not json');
  });

  it('a per-session timeout is stored with the session', async () => {
    const cookie = await seeded();
    await request(http).post('/timeout?minutes=5').set('Cookie', cookie).expect(200, { timeout: 5 });
    const stored = flat(await t.store.getItem(idOf(cookie)));
    expect(stored.item?.timeout).toBe(5);
    expect(stored.expires - Date.now()).toBeLessThanOrEqual(5 * 60_000);
    await request(http).post('/timeout?minutes=0').set('Cookie', cookie).expect(500);
  });

  it('an @Res() handler saves its changes and releases the lock', async () => {
    const cookie = await seeded();
    await request(http).post('/raw').set('Cookie', cookie).expect(200, { raw: true });
    await request(http).post('/raw').set('Cookie', cookie).expect(200, { raw: true });
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 3 });
  });

  it('an @Res() redirect saves its change and releases the lock (the route keeps the interceptor)', async () => {
    const cookie = await seeded();
    const answer = await request(http).post('/redirect').set('Cookie', cookie).expect(303);
    expect(answer.headers.location).toBe('/count');
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
    expect(t.activeLeases()).toBe(0);
  });

  it('an @Res() handler that creates a session sends its cookie with its answer: no warning, no error', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn');
    const error = vi.spyOn(Logger.prototype, 'error');
    try {
      const res = await request(http).post('/raw').expect(200, { raw: true });
      const cookie = sessionCookie(res.headers)!;
      expect(cookie).toBeDefined();
      await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
      expect(warn).not.toHaveBeenCalled();
      expect(error).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }
  });

  it('a StreamableFile response is streamed after the session was saved', async () => {
    const cookie = await seeded();
    const res = await request(http)
      .post('/stream')
      .set('Cookie', cookie)
      .buffer(true)
      .parse((r, done) => {
        let body = '';
        r.on('data', (chunk: Buffer) => (body += chunk.toString()));
        r.on('end', () => done(null, body));
      });
    expect(res.status).toBe(200);
    expect(res.body).toBe('streamed body');
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('a handler that resolves to an Observable after its client left: its lock is released, its change discarded', async () => {
    const cookie = await seeded();
    await t.app.listen(0, '127.0.0.1');
    await leaveAt(t, '/count-stream-late?gate=late', cookie, 'late');
    const next = request(http)
      .post('/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await vi.waitFor(() => expect(t.waiting(idOf(cookie))).toBe(1));
    t.gates.open('late');
    // Nest never subscribes to the Observable of a client that is gone: nothing was sent, nothing saved.
    expect((await next).body).toEqual({ count: 1 });
    await vi.waitFor(() => expect(t.activeLeases()).toBe(0));
  });

  it('an Observable handed back after the connection was reset (before the response knows): the lock is released', async () => {
    const cookie = await seeded();
    await request(http)
      .post('/count-stream-reset')
      .set('Cookie', cookie)
      .catch((error: unknown) => error);
    await vi.waitFor(() => expect(t.activeLeases()).toBe(0));
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('an aborted request releases its lock once its handler settles, and its write is kept', async () => {
    const cookie = await seeded();
    await t.app.listen(0, '127.0.0.1');
    const { port } = t.app.getHttpServer().address();
    const aborted = new Promise<Error>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/count?gate=abort', headers: { cookie }, agent: false });
      req.on('error', resolve);
      req.end();
      void t.gates.arrived('abort').then(() => req.destroy(new Error('client went away')));
    });
    await t.gates.arrived('abort');
    expect(await aborted).toBeInstanceOf(Error);
    // The next request of the session queues behind the aborted one's lock…
    const next = request(http)
      .post('/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await vi.waitFor(() => expect(t.waiting(idOf(cookie))).toBe(1));
    // …and gets it as soon as that handler settles.
    t.gates.open('abort');
    expect((await next).body).toEqual({ count: 2 });
  });
});
