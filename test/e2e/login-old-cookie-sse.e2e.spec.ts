/**
 * An `@Sse()` stream opened with the old cookie after a login finished (a tab's EventSource
 * reconnecting before it saw the login's cookie) finds the moved session's marker under the old id.
 * A stream is read-only: it must not start a session nor send a cookie over the login's, and it
 * streams an empty snapshot. The signed-in session is untouched. Express and Fastify; the module's
 * own binding (the login a route's `regenerateId()`) and `mountSessionState` with passport.
 * (login-undone-by-sse-stream covers a stream opened *before* the login.)
 */
import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { sseReader } from '../support/sse-reader.js';
import { ADAPTERS, cartSession, createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { startParkedPassportApp } from './fixtures/parked-passport-app.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { SseSource, SseTestController } from './fixtures/sse-test.controller.js';
import { idOf } from './session-app.js';

interface Setup {
  app: INestApplication;
  counter: StoreCallCounter;
  store: InMemorySessionStateStore;
  /** An anonymous session's cookie. */
  anonymous(url: string): Promise<string>;
  /** Logs in with that cookie: the login's cookie. */
  login(url: string, cookie: string): Promise<string>;
  /** Answers 2xx while the cookie names a live session with what the login stored. */
  signedIn(url: string, cookie: string): Promise<unknown>;
}

const BINDINGS: Record<string, (adapter: AdapterName) => Promise<Setup>> = {
  async 'the module binding'(adapter) {
    const { store, counter } = countingStore(new InMemorySessionStateStore());
    const app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [SessionTestController, SseTestController],
      providers: [{ provide: Gates, useValue: new Gates() }, SseSource],
    });
    return {
      app,
      counter,
      store,
      anonymous: async (url) => sessionCookie((await request(url).post('/count').expect(200)).headers)!,
      login: async (url, cookie) => sessionCookie((await request(url).post('/regenerate').set('Cookie', cookie).expect(200)).headers)!,
      signedIn: (url, cookie) => request(url).get('/count').set('Cookie', cookie).expect(200, { count: 1 }),
    };
  },
  async 'mountSessionState with passport'(adapter) {
    const { store, counter } = countingStore(new InMemorySessionStateStore());
    const app = await startParkedPassportApp(adapter, store, new Gates(), { controllers: [SseTestController], providers: [SseSource] });
    return {
      app,
      counter,
      store,
      anonymous: (url) => cartSession(url),
      login: async (url, cookie) => {
        const login = await request(url).post('/login').set('Cookie', cookie).send({ username: 'john', password: 'changeme' }).expect(200);
        return sessionCookie(login.headers)!;
      },
      signedIn: (url, cookie) => request(url).get('/me').set('Cookie', cookie).expect(200),
    };
  },
};

describe.each(ADAPTERS)('an @Sse() stream opened with the old cookie after a login (%s)', (adapter) => {
  describe.each(Object.keys(BINDINGS))('%s', (binding) => {
    let setup: Setup;
    let url: string;
    beforeAll(async () => {
      setup = await BINDINGS[binding]!(adapter);
      await setup.app.listen(0, '127.0.0.1');
      url = (await setup.app.getUrl()).replace('[::1]', '127.0.0.1');
    });
    afterAll(async () => {
      (setup.app.getHttpServer() as Server).closeAllConnections();
      await setup.app.close();
    });

    it('starts no session and sends no cookie; streams an empty snapshot; the login stands', async () => {
      const anon = await setup.anonymous(url);
      const loggedIn = await setup.login(url, anon);
      setup.counter.reset();
      const res = await fetch(`${url}/sse/events`, { headers: { Cookie: anon } });
      const events = sseReader(res.body!);
      try {
        expect({ status: res.status, setCookie: res.headers.get('set-cookie') }).toEqual({ status: 200, setCookie: null });
        setup.app.get(SseSource).events.next(1);
        expect(await events.next()).toEqual({ n: 1, count: 0, readOnly: true });
      } finally {
        await events.cancel();
      }
      // Only reads: nothing stored under a new id, the old id still only the marker.
      expect(Object.keys(setup.counter.calls)).toEqual(['getItem']);
      expect(await setup.store.getItem(idOf(anon))).toEqual({ kind: 'absent', moved: true });
      expect(setup.app.get(SessionStateLifecycle).activeLeases).toBe(0);
      await setup.signedIn(url, loggedIn);
    });
  });
});
