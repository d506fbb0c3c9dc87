/**
 * A GraphQL request sent with the old cookie after a login finished (another tab, a fetch in flight
 * when the login's answer arrived) finds the moved session's marker under the old id, as an HTTP
 * route does (login-undone-by-old-cookie): a mutation is refused (SESSION_STATE_409, Retry-After, no
 * Set-Cookie) and does not start a session whose cookie would replace the login's; a query reads an
 * empty session and sets no cookie. Apollo on Express, Mercurius on Fastify; the module's own binding
 * (the login a route's `regenerateId()`) and `mountSessionState` with passport (its login mid-request).
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { InMemorySessionStateStore, type SessionStateStore } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, cartSession, sessionCookie, type AdapterName } from '../support/test-app.js';
import { CounterResolver } from './fixtures/graphql-counter.resolver.js';
import { startParkedPassportApp } from './fixtures/parked-passport-app.js';
import { GRAPHQL_SERVER, gql, graphqlModule, startGraphQLApp } from './graphql-app.js';
import { idOf } from './session-app.js';

interface Setup {
  app: INestApplication;
  store: SessionStateStore;
  /** An anonymous session (its cookie) with `count` at 1 where the app can make one. */
  anonymous(): Promise<string>;
  /** Logs in with that cookie: the login's cookie. */
  login(cookie: string): Promise<string>;
  /** The count of the session this cookie names, read by a query. */
  count(cookie: string): Promise<number>;
  /** The signed-in session's count right after the login (passport's plain `logIn()` starts it empty). */
  countAfterLogin: number;
}

const BINDINGS: Record<string, (adapter: AdapterName) => Promise<Setup>> = {
  async 'the module binding'(adapter) {
    const store = new InMemorySessionStateStore();
    const { app } = await startGraphQLApp(adapter, { store });
    const http = app.getHttpServer();
    return {
      app,
      store,
      async anonymous() {
        return sessionCookie((await gql(http, { query: 'mutation { increment }' }).expect(200)).headers)!;
      },
      async login(cookie) {
        return sessionCookie((await request(http).post('/regenerate').set('Cookie', cookie).expect(200)).headers)!;
      },
      async count(cookie) {
        return (await gql(http, { query: '{ counter }' }, cookie)).body.data.counter;
      },
      countAfterLogin: 1,
    };
  },
  async 'mountSessionState with passport'(adapter) {
    const store = new InMemorySessionStateStore();
    const gates = new Gates();
    const app = await startParkedPassportApp(adapter, store, gates, {
      imports: [graphqlModule(adapter)],
      providers: [{ provide: Gates, useValue: gates }, CounterResolver],
    });
    const http = app.getHttpServer();
    return {
      app,
      store,
      async anonymous() {
        const cookie = await cartSession(http);
        await gql(http, { query: 'mutation { increment }' }, cookie).expect(200, { data: { increment: 1 } });
        return cookie;
      },
      async login(cookie) {
        const login = await request(http).post('/login').set('Cookie', cookie).send({ username: 'john', password: 'changeme' }).expect(200);
        return sessionCookie(login.headers)!;
      },
      async count(cookie) {
        return (await gql(http, { query: '{ counter }' }, cookie)).body.data.counter;
      },
      countAfterLogin: 0,
    };
  },
};

describe.each(ADAPTERS)('a GraphQL request with the old cookie after a login (%s)', (adapter) => {
  describe.each(Object.keys(BINDINGS))(`${GRAPHQL_SERVER[adapter]}, %s`, (binding) => {
    let setup: Setup;
    beforeAll(async () => {
      setup = await BINDINGS[binding]!(adapter);
    });
    afterAll(() => setup.app.close());
    const http = () => setup.app.getHttpServer();

    it('a mutation: refused (SESSION_STATE_409, Retry-After), no Set-Cookie, nothing stored; the login stands', async () => {
      const anon = await setup.anonymous();
      const loggedIn = await setup.login(anon);
      const res = await gql(http(), { query: 'mutation { increment }' }, anon);
      expect({
        status: res.status,
        retryAfter: res.headers['retry-after'],
        setCookie: res.headers['set-cookie'] ?? null,
        data: res.body.data ?? null,
        codes: ((res.body.errors ?? []) as { extensions?: { code?: string } }[]).map((e) => e.extensions?.code),
      }).toEqual({ status: 409, retryAfter: '1', setCookie: null, data: null, codes: ['SESSION_STATE_409'] });
      // No session started under a new id; the old id still holds only the marker.
      expect(await setup.store.getItem(idOf(anon))).toEqual({ kind: 'absent', moved: true });
      expect(setup.app.get(SessionStateLifecycle).activeLeases).toBe(0);
      // The retry with the login's cookie lands in the signed-in session, untouched by the refused one.
      const retry = await gql(http(), { query: 'mutation { increment }' }, loggedIn);
      expect({ body: retry.body, setCookie: retry.headers['set-cookie'] ?? null }).toEqual({
        body: { data: { increment: setup.countAfterLogin + 1 } },
        setCookie: null,
      });
    });

    it('a query: an empty session, no error, no Set-Cookie', async () => {
      const anon = await setup.anonymous();
      const loggedIn = await setup.login(anon);
      const res = await gql(http(), { query: '{ counter }' }, anon);
      expect({ status: res.status, body: res.body, setCookie: res.headers['set-cookie'] ?? null }).toEqual({
        status: 200,
        body: { data: { counter: 0 } },
        setCookie: null,
      });
      expect(await setup.count(loggedIn)).toBe(setup.countAfterLogin);
    });
  });
});
