/**
 * A native client of the sample app (no cookie jar): its session id travels in `x-session-id`
 * (docs/ID-HEADER.md), through the JSON routes, passport's sign-in (the mount's `req.session`) and GraphQL.
 */
import request from 'supertest';
import { startSampleApp, type AdapterName, type SampleApp } from './support/sample-app.js';

const HEADER = 'x-session-id';
const SESSION_ID = /^[A-Za-z0-9_-]{32}$/;

describe.each<AdapterName>(['express', 'fastify'])('sample app, a client that names its session by x-session-id, on %s', (adapter) => {
  let sample: SampleApp;

  beforeAll(async () => {
    sample = await startSampleApp(adapter);
  });
  afterAll(async () => {
    await sample?.close();
  });

  /** A client that keeps the id the answers carry in the header, as an app keeps a token. */
  function nativeClient() {
    let id = '';
    const keep = (res: request.Response) => {
      expect(res.headers['set-cookie']).toBeUndefined();
      const answered = res.headers[HEADER] as string | undefined;
      if (answered !== undefined) id = answered;
      return res;
    };
    return {
      id: () => id,
      get: (path: string) => request(sample.server).get(path).set(HEADER, id).then(keep),
      post: (path: string, body?: object) => request(sample.server).post(path).set(HEADER, id).send(body).then(keep),
      form: (path: string, body: object) => request(sample.server).post(path).set(HEADER, id).type('form').send(body).then(keep),
    };
  }

  it('counter, cart and JSON login: the id arrives in the header, changes at login, and is emptied at logout', async () => {
    const client = nativeClient();
    expect((await client.post('/counter')).body).toEqual({ count: 1 });
    const first = client.id();
    expect(first).toMatch(SESSION_ID);
    await client.post('/cart/items', { sku: 'pen', qty: 1 });
    expect((await client.post('/login', { user: 'ada' })).body).toEqual({ user: 'ada' });
    expect(client.id()).toMatch(SESSION_ID);
    expect(client.id()).not.toBe(first);
    expect((await client.get('/me')).body).toEqual({ user: 'ada' });
    expect((await client.get('/cart')).body).toEqual({ items: [{ sku: 'pen', qty: 1 }] });
    const out = await client.post('/logout');
    expect(out.headers[HEADER]).toBe('');
    expect((await client.get('/me')).body).toEqual({ user: null });
  });

  it("passport's sign-in form (req.session through the mount): the 303 carries the new id in the header", async () => {
    const client = nativeClient();
    await client.post('/cart/items', { sku: 'ink', qty: 3 });
    const before = client.id();
    const login = await client.form('/auth/login', { username: 'alan', password: 'turing' });
    expect(login.status).toBe(303);
    expect(client.id()).toMatch(SESSION_ID);
    expect(client.id()).not.toBe(before);
    expect((await client.get('/auth/me')).body).toEqual({ user: 'alan', session: true });
    expect((await client.get('/cart')).body).toEqual({ items: [{ sku: 'ink', qty: 3 }] });
  });

  it('50 concurrent increments named by the header end at 50', async () => {
    const client = nativeClient();
    await client.post('/counter');
    await Promise.all(Array.from({ length: 49 }, () => client.post('/counter')));
    expect((await client.get('/counter')).body).toEqual({ count: 50 });
  });

  it('GraphQL over HTTP: a mutation answers the id in the header', async () => {
    const client = nativeClient();
    const res = await client.post('/graphql', { query: 'mutation { increment }' });
    expect(res.body).toEqual({ data: { increment: 1 } });
    expect(client.id()).toMatch(SESSION_ID);
    expect((await client.post('/graphql', { query: '{ counter }' })).body).toEqual({ data: { counter: 1 } });
  });
});
