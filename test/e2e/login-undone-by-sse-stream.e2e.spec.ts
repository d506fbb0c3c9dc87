import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { sseReader } from '../support/sse-reader.js';
import { ADAPTERS, cartSession, sessionCookie } from '../support/test-app.js';
import { startParkedPassportApp } from './fixtures/parked-passport-app.js';
import { SseSource, SseTestController } from './fixtures/sse-test.controller.js';

/**
 * An `@Sse()` stream cannot undo a login the way a GraphQL request could: under the mount its route
 * is read-only (a stream never locks), so it streams the snapshot the mount read and acquires nothing
 * afresh; and a read-only answer never starts a session nor renews a cookie of a moved id. A regression
 * guard: a stream that started before a login (parked after the mount's read) and answers after it
 * sends no cookie over the login's, and ends at its first event, its session being gone (moved).
 */
describe.each(ADAPTERS)('an @Sse() stream that started before a login (%s, mount)', (adapter) => {
  let app: INestApplication;
  let url: string;
  const gates = new Gates();

  beforeAll(async () => {
    app = await startParkedPassportApp(adapter, new InMemorySessionStateStore(), gates, {
      controllers: [SseTestController],
      providers: [SseSource],
    });
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    gates.openAll(); // a failed test leaves no request parked
    (app.getHttpServer() as Server).closeAllConnections();
    await app.close();
  });

  it('sends no cookie over the login, which stays signed in; the stream ends at its next event', async () => {
    const anon = await cartSession(url);
    const stream = fetch(`${url}/sse/events`, { headers: { Cookie: anon, 'x-gate': 'sse' } });
    await gates.arrived('sse');
    const login = await request(url).post('/login').set('Cookie', anon).send({ username: 'john', password: 'changeme' }).expect(200);
    const loggedIn = sessionCookie(login.headers)!;
    gates.open('sse');
    const res = await stream;
    const events = sseReader(res.body!);
    try {
      expect({ status: res.status, setCookie: res.headers.get('set-cookie') }).toEqual({ status: 200, setCookie: null });
      await request(url).get('/me').set('Cookie', loggedIn).expect(200);
      app.get(SseSource).events.next(1);
      // The snapshot's id was moved by the login: the stream ends (its client reconnects with the login's cookie).
      expect(await events.nextEvent()).toEqual({ type: 'error', data: expect.stringMatching(/session.*ended/i) });
      expect(await events.nextEvent()).toBeNull();
    } finally {
      await events.cancel();
    }
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    await request(url).get('/me').set('Cookie', loggedIn).expect(200);
  });
});
