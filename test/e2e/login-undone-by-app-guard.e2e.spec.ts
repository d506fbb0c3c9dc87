import type { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, cartSession, sessionCookie } from '../support/test-app.js';
import { GlobalAccessorGuard } from './fixtures/global-accessor.guard.js';
import { startParkedPassportApp } from './fixtures/parked-passport-app.js';

/**
 * An app's global guard (`APP_GUARD`, registered before `mountSessionState` makes its own guard
 * global, so it runs first) that reads the session with `SessionStateAccessor`, as auth guards do,
 * acquires the request's session itself, before the mount's guard locks it for the route. In a
 * request that started before a login (the mount's read found the anonymous session), that
 * acquisition finds the old id gone: it must be refused (409, retry) as the mount's own lock is,
 * never given a new session whose cookie would replace the login's.
 */
describe.each(ADAPTERS)('a login undone by a request whose app guard reads the session first (%s, mount)', (adapter) => {
  let app: INestApplication;
  let counter: StoreCallCounter;
  const gates = new Gates();
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    const counted = countingStore(new InMemorySessionStateStore());
    counter = counted.counter;
    app = await startParkedPassportApp(adapter, counted.store, gates, {
      providers: [GlobalAccessorGuard, { provide: APP_GUARD, useExisting: GlobalAccessorGuard }],
    });
  });
  afterAll(() => {
    gates.openAll(); // a failed test leaves no request parked
    return app.close();
  });

  it('a route that writes answers 409 with Retry-After, stores nothing and sends no cookie over the login', async () => {
    const anon = await cartSession(app.getHttpServer());
    const earlier = http()
      .post('/api/set')
      .set('Cookie', anon)
      .set('x-gate', 'guarded')
      .send({ note: 'x' })
      .then((r) => r);
    await gates.arrived('guarded');
    const login = await http().post('/login').set('Cookie', anon).send({ username: 'john', password: 'changeme' }).expect(200);
    const loggedIn = sessionCookie(login.headers)!;
    counter.reset();
    gates.open('guarded');
    const res = await earlier;
    const calls = { ...counter.calls };
    const me = await http()
      .get('/me')
      .set('Cookie', sessionCookie(res.headers) ?? loggedIn);
    expect({
      status: res.status,
      retryAfter: res.headers['retry-after'],
      newCookie: sessionCookie(res.headers) ?? null,
      meAfter: me.status,
      storeCalls: calls,
    }).toEqual({ status: 409, retryAfter: '1', newCookie: null, meAfter: 200, storeCalls: { getItemExclusive: 1 } });
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    // The login's session is not locked: the browser's next write goes through.
    await http().post('/api/set').set('Cookie', loggedIn).send({ note: 'y' }).expect(200);
  });
});
