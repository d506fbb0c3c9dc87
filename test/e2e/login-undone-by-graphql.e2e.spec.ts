import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, cartSession, sessionCookie } from '../support/test-app.js';
import { CounterResolver } from './fixtures/graphql-counter.resolver.js';
import { startParkedPassportApp } from './fixtures/parked-passport-app.js';
import { gql, graphqlModule } from './graphql-app.js';

/**
 * A GraphQL mutation of the same browser that started before a login (the mount's read found the
 * anonymous session stored) acquires the session in the GraphQL server's hooks after the login moved
 * it: the old id is absent, without a wait. It must not start a new session under a new id, whose
 * cookie would replace the login's (the user signed out by a request that began before the login):
 * it is refused as one that waited for the login (SESSION_STATE_409, retry), as an HTTP route is
 * (login-undone-by-earlier-request). Apollo on Express (passport), Mercurius on Fastify (@fastify/passport).
 */
describe.each(ADAPTERS)('a login undone by a GraphQL request that started before it (%s, mount)', (adapter) => {
  let app: INestApplication;
  let counter: StoreCallCounter;
  const gates = new Gates();
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    const counted = countingStore(new InMemorySessionStateStore());
    counter = counted.counter;
    app = await startParkedPassportApp(adapter, counted.store, gates, {
      imports: [graphqlModule(adapter)],
      providers: [{ provide: Gates, useValue: gates }, CounterResolver],
    });
  });
  afterAll(() => {
    gates.openAll(); // a failed test leaves no request parked
    return app.close();
  });

  // A mutation (Required: the lock) and a query (ReadOnly: a read) of the session; a query was given an
  // empty new session before (no cookie, but the anonymous answer of a signed-in user), now the same
  // refusal as when its mount read waited for the login.
  it.each([
    ['a mutation', 'mutation { increment }', { getItemExclusive: 1 }],
    ['a query', '{ counter }', { getItem: 1 }],
  ])('%s is refused (SESSION_STATE_409, Retry-After), stores nothing and sends no cookie over the login', async (_, query, storeCalls) => {
    const anon = await cartSession(app.getHttpServer());
    // Started before the login with the anonymous cookie; the mount's read found the session.
    const earlier = gql(app.getHttpServer(), { query }, anon)
      .set('x-gate', query)
      .then((r) => r);
    await gates.arrived(query);
    // The login, with the same cookie: moves the session to a new id, removes the old one.
    const login = await http().post('/login').set('Cookie', anon).send({ username: 'john', password: 'changeme' }).expect(200);
    const loggedIn = sessionCookie(login.headers)!;
    counter.reset();
    gates.open(query);
    const res = await earlier;
    const calls = { ...counter.calls };
    // The browser keeps the login's cookie unless the answer replaced it.
    const me = await http()
      .get('/me')
      .set('Cookie', sessionCookie(res.headers) ?? loggedIn);
    const errors = (res.body.errors ?? []) as { extensions?: { code?: string; http?: { status?: number } } }[];
    expect({
      newCookie: sessionCookie(res.headers) ?? null,
      meAfter: me.status,
      data: res.body.data ?? null,
      codes: errors.map((e) => e.extensions?.code),
      status: res.status, // the refusal's, on Apollo and on Mercurius (which answered 200)
      retryAfter: res.headers['retry-after'],
      storeCalls: calls,
    }).toEqual({
      newCookie: null,
      meAfter: 200,
      data: null,
      codes: ['SESSION_STATE_409'],
      status: 409,
      retryAfter: '1',
      storeCalls, // the session found gone; nothing written
    });
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    // The retry, with the login's cookie, runs on the signed-in session and keeps its cookie.
    const retry = await gql(app.getHttpServer(), { query: 'mutation { increment }' }, loggedIn);
    expect({ body: retry.body, cookie: sessionCookie(retry.headers) ?? null }).toEqual({ body: { data: { increment: 1 } }, cookie: null });
    await http().get('/me').set('Cookie', loggedIn).expect(200);
  });
});
