import request from 'supertest';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { SESSION_ABSENT, type SessionStateAcquisition, type SessionStateStoreData } from '../../src/store/session-state-store.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, sessionCookie, sessionSetCookie } from '../support/test-app.js';
import { holdAtGate, idOf, queueBehind, sessionApps, startSessionApp } from './session-app.js';
import { flat } from '../../src/testing/flat-store-answer.js';

const lockedAnswer = (answer: unknown) => (answer as SessionStateAcquisition).kind === 'locked';

/** A hand-over that saved (or released) but whose lock for the next request was not taken, as after an answer lost. */
class SavesWithoutHandingOver extends InMemorySessionStateStore {
  override async handOverItemExclusive(id: string, item: SessionStateStoreData, lockId: string, changed: boolean): Promise<SessionStateAcquisition> {
    if (changed) await this.setAndReleaseItemExclusive(id, item, lockId, false);
    else await this.releaseItemExclusive(id, lockId);
    return SESSION_ABSENT;
  }
}
const tableName = uniqueTableName('locking');
afterAll(() => deleteTable(tableName));

describe.each(ADAPTERS)('session locking across instances over %s', (adapter) => {
  const { start, seeded } = sessionApps();

  it('50 concurrent increments sent alternately to two instances sharing one store end at exactly 50', async () => {
    const store = new InMemorySessionStateStore();
    const a = await start(adapter, { store });
    const b = await start(adapter, { store });
    const cookie = await seeded(a);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        request((i % 2 ? b : a).app.getHttpServer())
          .post('/count')
          .set('Cookie', cookie)
          .expect(200),
      ),
    );
    expect(responses.map((r) => r.body.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await request(b.app.getHttpServer()).get('/count').set('Cookie', cookie).expect(200, { count: 50 });
  });

  it('a hand-over that saves but takes no lock for the next request (a lost answer): each waiter goes to the store, nothing lost, no 409', async () => {
    const t = await start(adapter, { store: new SavesWithoutHandingOver() });
    const cookie = await seeded(t);
    const holder = await holdAtGate(t, cookie);
    const queued = await queueBehind(t, cookie, (http) => http.post('/count'), 3);
    t.gates.open('hold');
    const answers = await Promise.all([holder.answer, ...queued]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(answers.map((r) => r.body.count).sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
    expect(flat(await t.store.getItem(idOf(cookie))).locked).toBe(false);
  });

  describe.each(['memory', 'dynamodb'] as const)('requests queued in one instance (%s store)', (kind) => {
    const store = async () =>
      kind === 'memory'
        ? new InMemorySessionStateStore()
        : new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig() });

    it('are handed the lock one after the other: one store write per request, a lock call after 16 hand-overs in a row', async () => {
      const t = await start(adapter, { store: await store() });
      const cookie = await seeded(t);
      const holder = await holdAtGate(t, cookie);
      const queued = await queueBehind(t, cookie, (http) => http.post('/count'), 18);
      t.counter.reset();
      t.gates.open('hold');
      const counts = (await Promise.all([holder.answer, ...queued])).map((r) => r.body.count).sort((x, y) => x - y);
      expect(counts).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
      // Each request hands the lock to the next in its save, 16 in a row at most: the 17th saves and
      // releases (a waiter of another instance gets its chance), its successor locks as usual and the
      // chain goes on; the last one saves and releases.
      expect(t.counter.calls).toEqual({ handOverItemExclusive: 17, setAndReleaseItemExclusive: 2, getItemExclusive: 1 });
      expect(flat(await t.store.getItem(idOf(cookie))).locked).toBe(false);
      expect(t.activeLeases()).toBe(0);
    });

    it('a reader queued among them is not kept waiting behind every writer: the lock is released for it', async () => {
      const t = await start(adapter, { store: await store() });
      const http = t.app.getHttpServer();
      const cookie = await seeded(t);
      const holder = await holdAtGate(t, cookie);
      const [first] = await queueBehind(t, cookie, (h) => h.post('/count'));
      const [reader] = await queueBehind(t, cookie, (h) => h.get('/count'));
      const later = await queueBehind(t, cookie, (h) => h.post('/count'), 3);
      t.gates.open('hold');
      await Promise.all([holder.answer, first, ...later]);
      // Not after all four writers (count 5): woken at the holder's release, as before the hand-over
      // existed, together with the first waiting writer, whose save it may or may not see (1 or 2).
      expect((await reader).body.count).toBeLessThanOrEqual(2);
      await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 5 });
    });

    it('readers that waited behind a writer leave nothing in the lock coordinator (one entry per session leaked before)', async () => {
      const t = await start(adapter, { store: await store() });
      const cookies = [await seeded(t), await seeded(t), await seeded(t)];
      for (const [n, cookie] of cookies.entries()) {
        const holder = await holdAtGate(t, cookie, `hold${n}`);
        const readers = await queueBehind(t, cookie, (h) => h.get('/count'), 2);
        t.gates.open(`hold${n}`);
        expect((await holder.answer).body).toEqual({ count: 1 });
        for (const reader of await Promise.all(readers)) expect(reader.status).toBe(200);
      }
      expect(t.coordinatorEntries()).toBe(0);
      expect(t.activeLeases()).toBe(0);
    });
  });

  it('a reader on another instance polls while the writer holds the lock, then reads its write', async () => {
    const store = new InMemorySessionStateStore();
    const a = await start(adapter, { store });
    const b = await start(adapter, { store });
    const cookie = await seeded(a);
    const writer = request(a.app.getHttpServer())
      .post('/count?gate=w')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('w');
    const sawLock = b.counter.next('getItem', lockedAnswer);
    const reader = request(b.app.getHttpServer())
      .get('/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await sawLock;
    a.gates.open('w');
    expect((await writer).body).toEqual({ count: 1 });
    expect((await reader).body).toEqual({ count: 1 });
  });

  it('a lock older than executionTimeout is broken; its old holder is fenced out with a 409 and loses nothing newer', async () => {
    const store = new InMemorySessionStateStore();
    const a = await start(adapter, { store, executionTimeout: 0.2 });
    const b = await start(adapter, { store, executionTimeout: 0.2 });
    const cookie = await seeded(a);
    const stuck = request(a.app.getHttpServer())
      .post('/count?gate=stuck')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('stuck');
    // B polls until the lock is stale, breaks it, and proceeds.
    await request(b.app.getHttpServer()).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    await request(b.app.getHttpServer()).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
    a.gates.open('stuck');
    const fenced = await stuck;
    expect(fenced.status).toBe(409);
    expect(fenced.body.message).toMatch(/lock was lost/);
    const stored = flat(await store.getItem(idOf(cookie)));
    expect(stored.locked).toBe(false);
    expect(JSON.parse(stored.item!.items).count).toBe(2);
  });

  it('a holder in this process that never finishes releases its waiters after executionTimeout (then fenced: 409)', async () => {
    const a = await start(adapter, { executionTimeout: 0.2 });
    const http = a.app.getHttpServer();
    const cookie = await seeded(a);
    const stuck = request(http)
      .post('/count?gate=stuck')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('stuck');
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    a.gates.open('stuck');
    expect((await stuck).status).toBe(409);
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('past maxQueueLength waiting requests, a session answers 503 with Retry-After', async () => {
    const a = await start(adapter, { lockWait: { maxQueueLength: 2, retryAfterSeconds: 3 } });
    const http = a.app.getHttpServer();
    const cookie = await seeded(a);
    const holder = request(http)
      .post('/count?gate=hold')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('hold');
    const queued = [1, 2].map(() =>
      request(http)
        .post('/count')
        .set('Cookie', cookie)
        .then((r) => r),
    );
    await vi.waitFor(() => expect(a.waiting(idOf(cookie))).toBe(2));
    const refused = await request(http).post('/count').set('Cookie', cookie).expect(503);
    expect(refused.headers['retry-after']).toBe('3');
    a.gates.open('hold');
    expect((await holder).status).toBe(200);
    expect((await Promise.all(queued)).map((r) => r.body.count).sort((a, b) => a - b)).toEqual([2, 3]);
  });

  it('on shutdown, waiting requests get a 503 and the in-flight one finishes and releases its lock', async () => {
    const store = new InMemorySessionStateStore();
    const a = await startSessionApp(adapter, { store });
    const http = a.app.getHttpServer();
    const cookie = await seeded(a);
    const inFlight = request(http)
      .post('/count?gate=late')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('late');
    const waiting = request(http)
      .post('/count')
      .set('Cookie', cookie)
      .then((r) => r);
    await vi.waitFor(() => expect(a.waiting(idOf(cookie))).toBe(1));
    const closed = a.app.close();
    expect((await waiting).status).toBe(503);
    a.gates.open('late');
    expect((await inFlight).body).toEqual({ count: 1 });
    await closed;
    const stored = flat(await store.getItem(idOf(cookie)));
    expect(stored.locked).toBe(false);
    expect(JSON.parse(stored.item!.items).count).toBe(1);
  });

  it.each([
    ['executionTimeout', { executionTimeout: 0.3 }],
    // executionTimeout left at 110 s: the wait is shutdownTimeout's, well inside a platform's grace period.
    ['shutdownTimeout', { shutdownTimeout: 0.3 }],
  ])(
    'on shutdown, a request still running past %s has its lock released, writes nothing when it settles later, and answers 503 (never 2xx)',
    async (_, timeouts) => {
      const store = new InMemorySessionStateStore();
      const a = await startSessionApp(adapter, { store, ...timeouts });
      const http = a.app.getHttpServer();
      const cookie = await seeded(a);
      const hung = request(http)
        .post('/count?gate=hung')
        .set('Cookie', cookie)
        .then((r) => r);
      // A request that starts a new session: its changes are dropped as well.
      const hungNew = request(http)
        .post('/count?gate=hung-new')
        .then((r) => r);
      await Promise.all([a.gates.arrived('hung'), a.gates.arrived('hung-new')]);
      a.counter.reset();
      const closed = a.app.close();
      await vi.waitFor(async () => expect(flat(await store.getItem(idOf(cookie))).locked).toBe(false), { timeout: 2000 });
      expect(a.counter.sequence).toEqual(['releaseItemExclusive']);
      a.gates.open('hung');
      a.gates.open('hung-new');
      const [answer, answerNew] = await Promise.all([hung, hungNew]);
      await closed;
      for (const dropped of [answer, answerNew]) {
        expect(dropped.status).toBe(503);
        expect(dropped.body.message).toMatch(/try again/);
        expect(sessionSetCookie(dropped.headers)).toBeUndefined();
      }
      expect(a.counter.sequence).toEqual(['releaseItemExclusive']); // nothing more when it settled
      expect(JSON.parse(flat(await store.getItem(idOf(cookie))).item!.items).count).toBeUndefined();
    },
  );

  it('signed cookies: a tampered or unsigned id is a new session; rotated secrets still verify', async () => {
    const store = new InMemorySessionStateStore();
    const oldSecret = 'old-secret-0123456789abcdef';
    const newSecret = 'new-secret-0123456789abcdef';
    const before = await start(adapter, { store, secret: oldSecret });
    const after = await start(adapter, { store, secret: [newSecret, oldSecret] });
    const signed = sessionCookie((await request(before.app.getHttpServer()).post('/count').expect(200)).headers)!;
    expect(signed).toMatch(/^sid=[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/);
    const id = signed.slice(4, 36);
    // Read with the old secret's signature: the cookie is signed again with the new one.
    const resignedRead = await request(after.app.getHttpServer()).get('/count').set('Cookie', signed).expect(200, { count: 1 });
    const resignedCookie = sessionCookie(resignedRead.headers)!;
    expect(resignedCookie.slice(0, 36)).toBe(signed.slice(0, 36));
    expect(resignedCookie).not.toBe(signed);
    await request(after.app.getHttpServer()).get('/count').set('Cookie', resignedCookie).expect(200, { count: 1 });
    await request(after.app.getHttpServer()).get('/count').set('Cookie', `sid=${id}`).expect(200, { count: 0 });
    await request(after.app.getHttpServer())
      .get('/count')
      .set('Cookie', `${signed.slice(0, -2)}xx`)
      .expect(200, { count: 0 });
    // The new secret signs from now on.
    const resigned = await request(after.app.getHttpServer()).post('/regenerate').set('Cookie', signed).expect(200);
    const cookie = sessionCookie(resigned.headers)!;
    await request(after.app.getHttpServer()).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
    await request(before.app.getHttpServer()).get('/count').set('Cookie', cookie).expect(200, { count: 0 });
  });

  it('cookie options are applied', async () => {
    const a = await start(adapter, {
      cookie: { name: 'app.sid', path: '/', domain: 'example.test', secure: true, sameSite: 'strict' },
    });
    const res = await request(a.app.getHttpServer()).post('/count').expect(200);
    expect(sessionSetCookie(res.headers, 'app.sid')).toMatch(
      /^app\.sid=[A-Za-z0-9_-]{32}; Domain=example\.test; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
    );
  });
});

describe('SessionStateModule options', () => {
  it.each([
    [{ timeout: 0 }, /timeout must be a whole number of minutes/],
    [{ executionTimeout: -1 }, /executionTimeout must be a positive number/],
    [{ secret: 'short' }, /secret must be a string .* of at least 16 characters/],
    [{ secret: [] as string[] }, /secret must not be an empty array/],
    [{ cookie: { name: 'bad name' } }, /cookie\.name must be a valid cookie name/],
    [{ cookie: { sameSite: 'none' as const, secure: false } }, /sameSite 'none' needs cookie\.secure/],
    [{ lockWait: { pollMinMs: 100, pollMaxMs: 10 } }, /pollMaxMs must be a whole number of milliseconds from lockWait\.pollMinMs/],
    [{ store: {} as never }, /store must be a SessionStateStore/],
  ])('rejects %j at startup with a clear message', async (options, message) => {
    await expect(startSessionApp('express', options)).rejects.toThrow(message);
  });
});
