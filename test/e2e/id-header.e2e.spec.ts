import { createHmac } from 'node:crypto';
import request from 'supertest';
import type { SessionStateModuleOptions } from '../../src/index.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { deleteTable, localClientConfig, uniqueTableName } from '../support/dynamodb-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { holdAtGate, sessionApps, type SessionApp } from './session-app.js';
import { GRAPHQL_SERVER, startGraphQLApp, type GraphQLApp } from './graphql-app.js';
import { SseSource, SseTestController } from './fixtures/sse-test.controller.js';

const HEADER = 'x-session-id';
const SECRET = 'the current secret, 16+ chars';
const OLD_SECRET = 'the previous secret, 16+ chars';
/** A signed header value: the id, a dot, its HMAC (as the cookie's). */
const SIGNED = /^[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/;

const idOfValue = (value: string) => value.slice(0, value.lastIndexOf('.'));
const signed = (id: string, secret: string) => `${id}.${createHmac('sha256', secret).update(id).digest('base64url')}`;

describe.each(ADAPTERS)('the session id in a header (idHeader) over %s', (adapter) => {
  const apps = sessionApps();
  let t: SessionApp;
  let http: any;

  async function start(options: SessionStateModuleOptions = {}): Promise<void> {
    t = await apps.start(adapter, { idHeader: 'X-Session-Id', secret: SECRET, ...options });
    http = t.app.getHttpServer();
  }

  /** A session started through the header: the value its first answer carried. */
  async function headerSession(): Promise<string> {
    const res = await request(http).post('/count').set(HEADER, '').expect(200, { count: 1 });
    const value = res.headers[HEADER] as string;
    expect(value).toMatch(SIGNED);
    return value;
  }

  it('a client that sends the header empty gets its new id back in it, signed, and no Set-Cookie; the header then names its session', async () => {
    await start();
    const value = await headerSession();
    const res = await request(http).post('/count').set(HEADER, value).expect(200, { count: 2 });
    expect(res.headers['set-cookie']).toBeUndefined();
    // The id did not change: not sent again (a header has no expiry to renew).
    expect(res.headers[HEADER]).toBeUndefined();
    await request(http).get('/count').set(HEADER, value).expect(200, { count: 2 });
    expect(flat(await t.store.getItem(idOfValue(value))).item?.items).toContain('"count":2');
  });

  it('a placeholder value works as the empty one (clients that cannot send an empty header)', async () => {
    await start();
    const res = await request(http).post('/count').set(HEADER, 'new').expect(200, { count: 1 });
    expect(res.headers[HEADER]).toMatch(SIGNED);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('a request without the header uses the cookie exactly as before, and its id never appears in a response header (the cookie stays HttpOnly)', async () => {
    await start();
    const res = await request(http).post('/count').expect(200, { count: 1 });
    const cookie = sessionCookie(res.headers)!;
    expect(cookie).toBeDefined();
    expect(res.headers[HEADER]).toBeUndefined();
    const login = await request(http).post('/regenerate').set('Cookie', cookie).expect(200, { changed: true });
    expect(sessionCookie(login.headers)).not.toBe(cookie);
    expect(login.headers[HEADER]).toBeUndefined();
  });

  it('both sent: the header wins, the cookie is not read, and the answer carries no Set-Cookie', async () => {
    await start();
    const cookie = sessionCookie((await request(http).post('/count').expect(200)).headers)!;
    const value = await headerSession();
    await request(http).post('/count').set(HEADER, value).expect(200, { count: 2 });
    const res = await request(http).post('/count').set('Cookie', cookie).set(HEADER, value).expect(200, { count: 3 });
    expect(res.headers['set-cookie']).toBeUndefined();
    // A header that names no valid session: a new session, even beside a valid cookie (never a fall-back to it).
    const fresh = await request(http).post('/count').set('Cookie', cookie).set(HEADER, 'garbage').expect(200, { count: 1 });
    expect(fresh.headers[HEADER]).toMatch(SIGNED);
    expect(fresh.headers['set-cookie']).toBeUndefined();
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it.each([
    ['garbage', () => 'garbage'],
    ['oversized', () => 'a'.repeat(8192)],
    ['path traversal', () => '../../etc/passwd'],
    ['well-formed id, unsigned (a secret is set)', () => 'A'.repeat(32)],
    ['well-formed id, forged signature', () => `${'A'.repeat(32)}.${'B'.repeat(43)}`],
    ['well-formed id signed with a secret not configured', () => signed('A'.repeat(32), 'a secret nobody configured')],
    ['a cookie-style pair', () => `sid=${'A'.repeat(32)}`],
  ])('a %s value reads as no session: a new one under a new id, never an error', async (_kind, value) => {
    await start();
    await request(http).get('/count').set(HEADER, value()).expect(200, { count: 0 });
    const res = await request(http).post('/count').set(HEADER, value()).expect(200, { count: 1 });
    expect(res.headers[HEADER]).toMatch(SIGNED);
    expect(res.headers[HEADER]).not.toBe(value());
    expect(t.activeLeases()).toBe(0);
  });

  it("a stolen id is not enough without its signature, and a valid session's value sent twice (a repeated header) is refused", async () => {
    await start();
    const value = await headerSession();
    // The bare id of a live session (what a log or a store dump could show): refused.
    const bare = await request(http).post('/count').set(HEADER, idOfValue(value)).expect(200, { count: 1 });
    expect(idOfValue(bare.headers[HEADER] as string)).not.toBe(idOfValue(value));
    // A repeated header reaches the app joined ("v, v", as Node joins one): never read as one of the values.
    const repeated = await request(http).post('/count').set(HEADER, `${value}, ${value}`).expect(200, { count: 1 });
    expect(repeated.headers[HEADER]).not.toBe(value);
    await request(http).get('/count').set(HEADER, value).expect(200, { count: 1 });
  });

  it('a well-signed value of an unknown or expired session: a new session, never the id the client chose', async () => {
    await start();
    const chosen = 'C'.repeat(32);
    const res = await request(http).post('/count').set(HEADER, signed(chosen, SECRET)).expect(200, { count: 1 });
    expect(idOfValue(res.headers[HEADER] as string)).not.toBe(chosen);
  });

  it('without a secret the value is the bare id, checked for form only', async () => {
    await start({ secret: undefined });
    const res = await request(http).post('/count').set(HEADER, '').expect(200, { count: 1 });
    const value = res.headers[HEADER] as string;
    expect(value).toMatch(/^[A-Za-z0-9_-]{32}$/);
    await request(http).post('/count').set(HEADER, value).expect(200, { count: 2 });
  });

  it('regenerateId() (login): the new id comes back in the header, the old one is gone', async () => {
    await start();
    const value = await headerSession();
    const res = await request(http).post('/regenerate').set(HEADER, value).expect(200, { changed: true });
    const renewed = res.headers[HEADER] as string;
    expect(renewed).toMatch(SIGNED);
    expect(idOfValue(renewed)).not.toBe(idOfValue(value));
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(flat(await t.store.getItem(idOfValue(value))).item).toBeNull();
    await request(http).get('/profile').set(HEADER, renewed).expect(200, { user: 'ann', count: 1 });
    // The old value now names nothing: a new, empty session.
    await request(http).get('/profile').set(HEADER, value).expect(200, { user: null, count: 0 });
  });

  it('an @Res() handler that regenerates: the held answer goes out with the new id in its header', async () => {
    await start();
    const value = await headerSession();
    const res = await request(http).post('/raw-login').set(HEADER, value).expect(200, { raw: true });
    const renewed = res.headers[HEADER] as string;
    expect(idOfValue(renewed)).not.toBe(idOfValue(value));
    await request(http).get('/profile').set(HEADER, renewed).expect(200, { user: 'ann', count: 1 });
  });

  it('a handler answering on the raw response (writeHead with its own headers): the held answer carries the new id too', async () => {
    await start();
    const value = await headerSession();
    const res = await request(http).post('/raw-head-login').set(HEADER, value).expect(200, 'signed in');
    const renewed = res.headers[HEADER] as string;
    expect(renewed).toMatch(SIGNED);
    expect(idOfValue(renewed)).not.toBe(idOfValue(value));
    await request(http).get('/profile').set(HEADER, renewed).expect(200, { user: 'ann', count: 1 });
  });

  it('abandon(): the header answers empty (the client drops its id, as Spring Session does), the session is removed', async () => {
    await start();
    const value = await headerSession();
    const res = await request(http).post('/abandon').set(HEADER, value).expect(200);
    expect(res.headers[HEADER]).toBe('');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(flat(await t.store.getItem(idOfValue(value))).item).toBeNull();
    // Abandoning a session the request did not name: nothing to tell.
    const none = await request(http).post('/abandon').set(HEADER, '').expect(200);
    expect(none.headers[HEADER]).toBeUndefined();
  });

  it('a value signed with an older secret is accepted and comes back signed with the current one', async () => {
    // Two instances on one store: the one deployed before the rotation, and the one after it.
    const store = new InMemorySessionStateStore();
    await start({ secret: OLD_SECRET, store });
    const old = await headerSession();
    await start({ secret: [SECRET, OLD_SECRET], store });
    const res = await request(http).post('/count').set(HEADER, old).expect(200, { count: 2 });
    expect(res.headers[HEADER]).toBe(signed(idOfValue(old), SECRET));
    // A read-only request re-signs it too.
    const read = await request(http).get('/count').set(HEADER, old).expect(200, { count: 2 });
    expect(read.headers[HEADER]).toBe(signed(idOfValue(old), SECRET));
  });

  it('a new session that stays empty: no store write and no header', async () => {
    await start();
    t.counter.reset();
    const res = await request(http).post('/touch').set(HEADER, '').expect(200, { size: 0 });
    expect(res.headers[HEADER]).toBeUndefined();
    expect(t.counter.total()).toBe(0);
  });

  it('50 concurrent writes of one session named by the header end at exactly 50', async () => {
    await start();
    const value = await headerSession();
    const answers = await Promise.all(Array.from({ length: 50 }, () => request(http).post('/count').set(HEADER, value).expect(200)));
    expect(answers.map((r) => r.body.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    await request(http).get('/count').set(HEADER, value).expect(200, { count: 51 });
  });

  it('the header and the cookie name the same lock: a request by one waits for a holder by the other', async () => {
    // No secret: the cookie's value and the header's are the same bare id, so one client may use either.
    await start({ secret: undefined });
    const value = (await request(http).post('/count').set(HEADER, '').expect(200)).headers[HEADER] as string;
    const held = await holdAtGate(t, `sid=${value}`);
    const waiting = request(http)
      .post('/count')
      .set(HEADER, value)
      .then((r) => r);
    await vi.waitFor(() => expect(t.waiting(value)).toBe(1));
    t.gates.open('hold');
    expect((await held.answer).body).toEqual({ count: 2 });
    expect((await waiting).body).toEqual({ count: 3 });
  });
});

describe.each(ADAPTERS)('the id header on GraphQL over HTTP and on SSE, over %s', (adapter) => {
  const server = GRAPHQL_SERVER[adapter];
  let g: GraphQLApp;
  let url: string;
  // One app per adapter (a GraphQL schema takes seconds to build); every test has its own session.
  beforeAll(async () => {
    g = await startGraphQLApp(adapter, { idHeader: HEADER, secret: SECRET }, [SseSource], {}, [SseTestController]);
    await g.app.listen(0, '127.0.0.1');
    url = (await g.app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(() => g.app.close());

  const gqlWith = (value: string, query: string) =>
    request(g.http as never)
      .post('/graphql')
      .set('Content-Type', 'application/json')
      .set(HEADER, value)
      .send({ query });

  it(`(${server}) a mutation of a client without a session gets its id in the header (no Set-Cookie); the header then names the session`, async () => {
    const first = await gqlWith('', 'mutation { increment }').expect(200);
    expect(first.body).toEqual({ data: { increment: 1 } });
    const value = first.headers[HEADER] as string;
    expect(value).toMatch(SIGNED);
    expect(first.headers['set-cookie']).toBeUndefined();
    const answers = await Promise.all(Array.from({ length: 20 }, () => gqlWith(value, 'mutation { increment }').expect(200)));
    expect(answers.map((r) => r.body.data.increment).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    expect((await gqlWith(value, '{ counter }').expect(200)).body).toEqual({ data: { counter: 21 } });
    // A forged value: an empty session, never an error.
    expect((await gqlWith(`${value.slice(0, -2)}xx`, '{ counter }').expect(200)).body).toEqual({ data: { counter: 0 } });
  });

  it('an SSE stream of a client that sends the header reads the session it names (EventSource in a browser cannot send one: the cookie serves there)', async () => {
    const value = (await request(url).post('/count').set(HEADER, '').expect(200)).headers[HEADER] as string;
    await request(url).post('/count').set(HEADER, value).expect(200, { count: 2 });
    const res = await fetch(`${url}/sse/events`, { headers: { [HEADER]: value } });
    const reader = res.body!.getReader();
    try {
      const event = new Promise<string>((resolve) => {
        let text = '';
        const read = (): Promise<void> =>
          reader.read().then(({ value: chunk }) => {
            text += new TextDecoder().decode(chunk);
            if (text.includes('\n\n')) resolve(text);
            else return read();
          });
        void read();
      });
      g.app.get(SseSource).events.next(1);
      expect(await event).toContain('"count":2');
    } finally {
      await reader.cancel();
    }
  });
});

describe.each(ADAPTERS)('the id header across two instances on a shared store, over %s', (adapter) => {
  const apps = sessionApps();
  let redis: RedisServer;
  let table: string;
  beforeAll(async () => {
    redis = await startRedisServer();
    table = uniqueTableName('id-header');
  });
  afterAll(async () => {
    await redis?.stop();
    await deleteTable(table);
  });

  const STORES: [string, (first: boolean) => Promise<SessionStateStore>][] = [
    [
      'DynamoDB Local',
      async (first) => new DynamoDBSessionStateStore({ tableName: table, createIfNotExists: first, clientConfig: await localClientConfig() }),
    ],
    ['Redis', async () => new RedisSessionStateStore({ url: redis.url })],
  ];

  it.each(STORES)(
    '%s: 50 concurrent writes named by the header, spread over both instances, end at 50; a login on one is seen by the other',
    async (_name, makeStore) => {
      const a = await apps.start(adapter, { idHeader: HEADER, secret: SECRET, store: await makeStore(true) });
      const b = await apps.start(adapter, { idHeader: HEADER, secret: SECRET, store: await makeStore(false) });
      const http = [a.app.getHttpServer(), b.app.getHttpServer()];
      const value = (await request(http[0]).post('/count').set(HEADER, '').expect(200)).headers[HEADER] as string;
      expect(value).toMatch(SIGNED);
      const answers = await Promise.all(
        Array.from({ length: 49 }, (_, i) =>
          request(http[i % 2])
            .post('/count')
            .set(HEADER, value)
            .expect(200),
        ),
      );
      expect(answers.map((r) => r.body.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 49 }, (_, i) => i + 2));
      await request(http[1]).get('/count').set(HEADER, value).expect(200, { count: 50 });
      const login = await request(http[1]).post('/regenerate').set(HEADER, value).expect(200, { changed: true });
      const renewed = login.headers[HEADER] as string;
      await request(http[0]).get('/profile').set(HEADER, renewed).expect(200, { user: 'ann', count: 50 });
      await request(http[0]).get('/profile').set(HEADER, value).expect(200, { user: null, count: 0 });
    },
  );
});
