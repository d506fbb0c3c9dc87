/**
 * The sample app's `/graphql` endpoint (Apollo on Express, Mercurius on Fastify) and its socket.io
 * counter gateway, beside the HTTP routes, on one session.
 */
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import { cookieHeader, sidCookie, sidOf } from './support/cookies.js';
import { startSampleApp, type AdapterName, type SampleApp } from './support/sample-app.js';

describe.each<AdapterName>(['express', 'fastify'])('sample app GraphQL and socket.io on %s', (adapter) => {
  let sample: SampleApp;
  let url: string;
  beforeAll(async () => {
    sample = await startSampleApp(adapter);
    url = (await sample.app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await sample?.close();
  });

  const gql = (query: string, sid?: string) => {
    const req = request(sample.server).post('/graphql').set('Content-Type', 'application/json');
    if (sid) req.set('Cookie', cookieHeader(sid));
    return req.send({ query });
  };

  it('increment / counter over GraphQL share the session of /counter; 20 concurrent increments end at 20', async () => {
    const first = await gql('mutation { increment }').expect(200);
    expect(first.body).toEqual({ data: { increment: 1 } });
    const sid = sidOf(first);
    await Promise.all(Array.from({ length: 19 }, () => gql('mutation { increment(delayMs: 1) }', sid).expect(200)));
    expect((await gql('{ counter }', sid)).body).toEqual({ data: { counter: 20 } });
    await request(sample.server).get('/counter').set('Cookie', cookieHeader(sid)).expect(200, { count: 20 });
  });

  it('a bad delayMs is a GraphQL error, and nothing is saved', async () => {
    const sid = sidOf(await gql('mutation { increment }').expect(200));
    const res = await gql('mutation { increment(delayMs: -1) }', sid);
    expect(res.body.errors[0].message).toMatch(/delayMs must be a whole number/);
    expect((await gql('{ counter }', sid)).body).toEqual({ data: { counter: 1 } });
  });

  it('login moves the session to a new id (new cookie), me reads it, logout ends it and clears the cookie', async () => {
    const sid = sidOf(await gql('mutation { increment }').expect(200));
    const login = await gql('mutation { login(user: "ada") }', sid).expect(200);
    expect(login.body).toEqual({ data: { login: 'ada' } });
    const newSid = sidOf(login);
    expect(newSid).not.toBe(sid);
    expect((await gql('{ me counter }', newSid)).body).toEqual({ data: { me: 'ada', counter: 1 } });
    expect((await gql('{ me }', sid)).body).toEqual({ data: { me: null } });
    const logout = await gql('mutation { logout }', newSid).expect(200);
    expect(sidCookie(logout)?.value).toBe('');
    expect((await gql('{ me }', newSid)).body).toEqual({ data: { me: null } });
  });

  it('the socket.io gateway counts in the session of its handshake cookie, serialised with HTTP increments', async () => {
    const sid = sidOf(await request(sample.server).post('/counter').expect(200));
    const socket: Socket = io(url, { transports: ['websocket'], extraHeaders: { Cookie: cookieHeader(sid) }, forceNew: true });
    try {
      const sends = Array.from({ length: 20 }, (_, i) =>
        i % 2
          ? socket.timeout(5000).emitWithAck('increment', {})
          : request(sample.server).post('/counter').set('Cookie', cookieHeader(sid)).expect(200),
      );
      await Promise.all(sends);
      expect(await socket.timeout(5000).emitWithAck('counter', {})).toBe(21);
    } finally {
      socket.close();
    }
  });

  it('a socket.io connection without a session cookie reads 0, and an increment is a clear error', async () => {
    const socket: Socket = io(url, { transports: ['websocket'], forceNew: true });
    try {
      expect(await socket.timeout(5000).emitWithAck('counter', {})).toBe(0);
      const exception = new Promise<{ message: string }>((resolve) => socket.once('exception', resolve));
      socket.emit('increment', {});
      expect((await exception).message).toMatch(/a message cannot set one/);
    } finally {
      socket.close();
    }
  });
});
