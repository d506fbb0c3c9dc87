import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import request from 'supertest';
import { DynamoDBSessionStateStore, type DynamoDBSessionStateStoreOptions } from '../../src/dynamodb/index.js';
import { countDynamoDBCalls } from '../support/counting-middleware.js';
import { injectDynamoDBFault, throttlingError } from '../support/dynamodb-fault-middleware.js';
import { loseFirstAnswer } from '../support/lose-answer-middleware.js';
import { startHoldingProxy } from '../support/dynamodb-holding-proxy.js';
import { Gates } from '../support/gates.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { idOf, startSessionApp, type SessionApp } from './session-app.js';
import { flat } from '../../src/testing/flat-store-answer.js';

const tableName = uniqueTableName('e2e');
afterAll(() => deleteTable(tableName));

describe.each(ADAPTERS)('the module on DynamoDB Local over %s', (adapter) => {
  const apps: SessionApp[] = [];
  const stores: DynamoDBSessionStateStore[] = [];

  /** An app instance with its own DynamoDB client, on the shared table. */
  async function instance(moduleOptions: { executionTimeout?: number } = {}, storeOptions: DynamoDBSessionStateStoreOptions = {}) {
    const store = new DynamoDBSessionStateStore({
      tableName,
      createIfNotExists: true,
      clientConfig: await localClientConfig(),
      ...storeOptions,
    });
    stores.push(store);
    const app = await startSessionApp(adapter, { ...moduleOptions, store });
    apps.push(app);
    return { ...app, http: app.app.getHttpServer(), dynamodb: countDynamoDBCalls(store.client), raw: store };
  }

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
    stores.splice(0);
  });

  const seed = async (http: unknown) =>
    sessionCookie(
      (
        await request(http as never)
          .post('/seed')
          .expect(200)
      ).headers,
    )!;

  it('two instances on one table: 50 concurrent increments sent alternately end at exactly 50', async () => {
    const a = await instance();
    const b = await instance();
    const cookie = await seed(a.http);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        request((i % 2 ? b : a).http)
          .post('/count')
          .set('Cookie', cookie)
          .expect(200),
      ),
    );
    expect(responses.map((r) => r.body.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await request(a.http).get('/count').set('Cookie', cookie).expect(200, { count: 50 });
  });

  it('DynamoDB calls per request: read-write 2, unchanged 2, read-only 1, session-less 0, regenerate 3, abandon 2, new session ≤ 2', async () => {
    const a = await instance();
    const cookie = await seed(a.http);
    const calls = async (send: () => Promise<unknown>) => {
      a.dynamodb.reset();
      await send();
      return a.dynamodb.byCommand();
    };
    expect(await calls(() => request(a.http).post('/count').set('Cookie', cookie).expect(200))).toEqual({ UpdateItem: 2 });
    expect(await calls(() => request(a.http).post('/touch').set('Cookie', cookie).expect(200))).toEqual({ UpdateItem: 2 });
    expect(await calls(() => request(a.http).get('/count').set('Cookie', cookie).expect(200))).toEqual({ GetItem: 1 });
    expect(await calls(() => request(a.http).get('/free').set('Cookie', cookie).expect(200))).toEqual({});
    expect(await calls(() => request(a.http).post('/count').expect(200))).toEqual({ PutItem: 1 });
    const unknown = `sid=${'Q'.repeat(32)}`;
    expect(await calls(() => request(a.http).post('/count').set('Cookie', unknown).expect(200))).toEqual({ UpdateItem: 1, PutItem: 1 });
    const login = await request(a.http).post('/seed').expect(200);
    const loginCookie = sessionCookie(login.headers)!;
    expect(await calls(() => request(a.http).post('/regenerate').set('Cookie', loginCookie).expect(200))).toEqual({
      UpdateItem: 2,
      PutItem: 1,
    });
    expect(await calls(() => request(a.http).post('/abandon').set('Cookie', cookie).expect(200))).toEqual({ UpdateItem: 2 });
  });

  // README, "Logins and logouts win over queued requests": every request queued behind the login or
  // logout answers 409 without a cookie, whichever instance it waits in (the head of a queue polling
  // the store and those queued behind it alike), also for a session past the 1 KB inline limit.
  describe.each([
    ['login', '/regenerate?gate=hold'],
    ['logout', '/abandon?gate=hold'],
  ])('requests queued behind a %s', (kind, path) => {
    it.each([
      ['on another instance', 'small', 0],
      ['on another instance', '6 KB', 6],
      ['on the same instance', 'small', 0],
      ['on the same instance', '6 KB', 6],
    ])('%s, %s session: each answers 409 without a cookie, and the session is as the holder left it', async (where, _size, kb) => {
      const a = await instance();
      const b = where === 'on another instance' ? await instance() : a;
      const cookie = await seed(a.http);
      if (kb) await request(a.http).post(`/big?kb=${kb}`).set('Cookie', cookie).expect(200);
      await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
      const holder = request(a.http)
        .post(path)
        .set('Cookie', cookie)
        .then((r) => r);
      await a.gates.arrived('hold');
      const sawLock = b === a ? Promise.resolve() : b.counter.next('getItemExclusive', (answer) => (answer as { kind: string }).kind === 'locked');
      const queued = Array.from({ length: 3 }, () =>
        request(b.http)
          .post('/count')
          .set('Cookie', cookie)
          .then((r) => r),
      );
      await sawLock; // the head of b's queue polls the store (another instance) ...
      await vi.waitFor(() => expect(b.waiting(idOf(cookie))).toBe(b === a ? 3 : 2)); // ... the rest wait in line
      a.gates.open('hold');
      const held = await holder;
      expect(held.status).toBe(200);
      const answers = await Promise.all(queued);
      expect(answers.map((r) => r.status)).toEqual([409, 409, 409]);
      for (const answer of answers) {
        expect(answer.body.message).toMatch(/moved or ended .* while this request was under way/);
        expect(answer.headers['set-cookie']).toBeUndefined();
      }
      if (kind === 'login') {
        const loggedIn = sessionCookie(held.headers)!;
        expect(loggedIn).not.toBe(cookie);
        await request(b.http).get('/profile').set('Cookie', loggedIn).expect(200, { user: 'ann', count: 1 });
        if (kb) expect((await request(b.http).post('/big?kb=1').set('Cookie', loggedIn).expect(200)).body.size).toBeGreaterThan(0);
      }
      // The old id never reaches the (moved or ended) data: a new session.
      await request(b.http).get('/profile').set('Cookie', cookie).expect(200, { user: null, count: 0 });
      expect(b.coordinatorEntries()).toBe(0);
      expect(a.activeLeases() + b.activeLeases()).toBe(0);
    });
  });

  it('read-only requests refresh the expiry only once over half of the timeout has elapsed', async () => {
    let offsetMs = 0;
    const a = await instance({}, { clock: () => Date.now() + offsetMs });
    // Written "11 minutes ago": 9 of its 20 minutes left.
    offsetMs = -11 * 60_000;
    const cookie = await seed(a.http);
    offsetMs = 0;
    a.dynamodb.reset();
    await request(a.http).get('/count').set('Cookie', cookie).expect(200);
    expect(a.dynamodb.byCommand()).toEqual({ GetItem: 1, UpdateItem: 1 });
    a.dynamodb.reset();
    await request(a.http).get('/count').set('Cookie', cookie).expect(200);
    expect(a.dynamodb.byCommand()).toEqual({ GetItem: 1 });
  });

  it('a session over the item limit is a 413; the stored session is intact and the lock released', async () => {
    const a = await instance();
    const cookie = await seed(a.http);
    await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    const refused = await request(a.http).post('/big?kb=700').set('Cookie', cookie).expect(413);
    expect(refused.body.message).toMatch(/larger than the store's limit/);
    const stored = flat(await a.raw.getItem(idOf(cookie)));
    expect(stored.locked).toBe(false);
    expect(JSON.parse(stored.item!.items)).toEqual({ seeded: true, count: 1 });
    await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
  });

  it('a lock broken as stale by another instance fences out its old holder with a 409', async () => {
    const a = await instance({ executionTimeout: 0.3 });
    const b = await instance({ executionTimeout: 0.3 });
    const cookie = await seed(a.http);
    const stuck = request(a.http)
      .post('/count?gate=stuck')
      .set('Cookie', cookie)
      .then((r) => r);
    await a.gates.arrived('stuck');
    await request(b.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    a.gates.open('stuck');
    expect((await stuck).status).toBe(409);
    const stored = flat(await b.raw.getItem(idOf(cookie)));
    expect(stored.locked).toBe(false);
    expect(JSON.parse(stored.item!.items).count).toBe(1);
  });

  it('DynamoDB throttling through every retry: a 503, and no lock is left behind', async () => {
    const a = await instance();
    const cookie = await seed(a.http);
    const removeFault = injectDynamoDBFault(a.raw.client, () => throttlingError());
    const refused = await request(a.http).post('/count').set('Cookie', cookie).expect(503);
    // Store internals (table names, AWS error text) stay in the server's logs.
    expect(refused.body).toEqual({ statusCode: 503, message: 'Session state is unavailable; try again.', error: 'Service Unavailable' });
    removeFault();
    // A throttled lock call may have landed on an earlier attempt: its revocation (its lock id added to
    // the record's AbortedLocks), throttled too, is sent again in the background. Counted from once it landed.
    await vi.waitFor(async () => {
      const record = await a.raw.client.send(new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: idOf(cookie) } } }));
      expect(record.Item?.AbortedLocks).toBeDefined();
    });
    a.dynamodb.reset();
    await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(a.dynamodb.byCommand()).toEqual({ UpdateItem: 2 });
  });

  it('a save that fails is a 503 with the lock released and the old data intact', async () => {
    const a = await instance();
    const cookie = await seed(a.http);
    let updates = 0;
    // The request's second UpdateItem is its save: fail that one only.
    const removeFault = injectDynamoDBFault(a.raw.client, (op) => (op === 'UpdateItem' && ++updates === 2 ? throttlingError() : undefined));
    await request(a.http).post('/count').set('Cookie', cookie).expect(503);
    removeFault();
    const stored = flat(await a.raw.getItem(idOf(cookie)));
    expect(stored.locked).toBe(false);
    expect(JSON.parse(stored.item!.items)).toEqual({ seeded: true });
  });

  it('a DynamoDB call that never answers is bounded by requestTimeoutMs: 503, no hang', async () => {
    const a = await instance({}, { requestTimeoutMs: 300 });
    const cookie = await seed(a.http);
    const removeFault = injectDynamoDBFault(a.raw.client, () => 'hang');
    await request(a.http).post('/count').set('Cookie', cookie).expect(503);
    await request(a.http).get('/count').set('Cookie', cookie).expect(503);
    removeFault();
    await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('a lock call held past requestTimeoutMs: 503, and when it lands late it takes no lock; the next request goes straight through', async () => {
    const gates = new Gates();
    let answered: (body: string) => void = () => undefined;
    const lateAnswer = new Promise<string>((resolve) => (answered = resolve));
    let held = false;
    const config = await localClientConfig();
    const proxy = await startHoldingProxy(config.endpoint as string, (operation, body) => {
      if (held || operation !== 'UpdateItem' || !body.includes('#locked = :true')) return undefined;
      held = true;
      return { request: gates.pass('lock call'), answered: (_status, text) => answered(text) };
    });
    try {
      const other = await instance();
      const slow = await instance({}, { clientConfig: { ...config, endpoint: proxy.endpoint }, requestTimeoutMs: 1000, maxAttempts: 1 });
      const cookie = await seed(other.http);
      await request(slow.http).post('/count').set('Cookie', cookie).expect(503);
      gates.open('lock call');
      expect(await lateAnswer).toContain('ConditionalCheckFailedException');
      other.dynamodb.reset();
      await request(other.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
      expect(other.dynamodb.byCommand()).toEqual({ UpdateItem: 2 });
    } finally {
      await proxy.close();
    }
  });

  it('writes DynamoDB applied but whose answers were lost are recognised: save, new session, logout', async () => {
    const a = await instance();
    const commit = (operation: string, input: Record<string, unknown>) =>
      operation === 'UpdateItem' && String(input.UpdateExpression).includes('#w0 = :writeToken');
    // Save: 200, stored once (the client has no reason to retry).
    const cookie = await seed(a.http);
    const lostSave = loseFirstAnswer(a.raw.client, commit);
    await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(lostSave.lost()).toBe(1);
    lostSave.remove();
    await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 2 });

    // New session: 200 with its cookie, and the record is that session's.
    const lostPut = loseFirstAnswer(a.raw.client, (operation) => operation === 'PutItem');
    const created = await request(a.http).post('/count').expect(200, { count: 1 });
    expect(lostPut.lost()).toBe(1);
    lostPut.remove();
    const newCookie = sessionCookie(created.headers)!;
    await request(a.http).get('/count').set('Cookie', newCookie).expect(200, { count: 1 });

    // Logout: 200, and the session is gone.
    const lostRemove = loseFirstAnswer(a.raw.client, commit);
    await request(a.http).post('/abandon').set('Cookie', newCookie).expect(200, { abandoned: true });
    expect(lostRemove.lost()).toBe(1);
    lostRemove.remove();
    expect(flat(await a.raw.getItem(idOf(newCookie))).item).toBeNull();
  });

  it('a burst of 320 POSTs on one session, then past the point where old write tokens used to be pruned: every later read-write request saves (issue 16, item 2)', async () => {
    let offsetMs = 0;
    const a = await instance({}, { clock: () => Date.now() + offsetMs, requestTimeoutMs: 1_000 });
    const cookie = await seed(a.http);
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 32 }, () => request(a.http).post('/count').set('Cookie', cookie).expect(200)));
    }
    await request(a.http).get('/count').set('Cookie', cookie).expect(200, { count: 320 });
    // Past requestTimeoutMs + 10 s (the store's clock, moved rather than waited for).
    offsetMs += 12_000;
    for (let n = 321; n <= 325; n++) {
      await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: n });
    }
    await request(a.http).get('/count').set('Cookie', cookie).expect(200, { count: 325 });
  });

  it('a corrupt record is replaced by a new session and its lock released', async () => {
    const a = await instance();
    const cookie = await seed(a.http);
    const id = idOf(cookie);
    const record = await a.raw.client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          SessionId: { S: id },
          Items: { B: Buffer.from('definitely not gzip') },
          Locked: { BOOL: false },
          Expires: { N: String(Date.now() + 60_000) },
          Timeout: { N: '20' },
          TimeoutMs: { N: '1200000' },
          TimeoutSeconds: { N: '1200' },
          Version: { N: '1' },
          Flags: { N: '0' },
        },
      }),
    );
    expect(record.$metadata.httpStatusCode).toBe(200);
    const res = await request(a.http).post('/count').set('Cookie', cookie).expect(200, { count: 1 });
    expect(sessionCookie(res.headers)).not.toBe(cookie);
    await expect(a.raw.getItem(id)).rejects.toThrow(/corrupt/);
    const raw = await a.raw.client.send(new GetItemCommand({ TableName: tableName, Key: { SessionId: { S: id } } }));
    expect(raw.Item?.Locked).toEqual({ BOOL: false });
  });
});
