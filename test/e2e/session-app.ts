import { request as httpRequest } from 'node:http';
import type { INestApplication, Provider, Type } from '@nestjs/common';
import request from 'supertest';
import { SessionStateModule, type SessionStateModuleOptions } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import {
  AllowedGuard,
  GatedGuard,
  LoadingGuard,
  ReadOnlyTestController,
  SessionTestController,
  SlowRefusingGuard,
} from './fixtures/session-test.controller.js';

export interface SessionApp {
  app: INestApplication;
  gates: Gates;
  /** The store as the module sees it (counting). */
  store: SessionStateStore;
  counter: StoreCallCounter;
  /** Requests of this app waiting for a session's lock. */
  waiting(id: string): number;
  /** Leases of this app not yet completed. */
  activeLeases(): number;
  /** Sessions this app's lock coordinator holds an entry for (someone holds or waits for them). */
  coordinatorEntries(): number;
}

/** The test controller on `SessionStateModule.forRoot(options)`, with a counting store. */
export async function startSessionApp(
  adapter: AdapterName,
  options: SessionStateModuleOptions = {},
  extra: { providers?: Provider[]; controllers?: Type[]; configure?: (app: INestApplication) => void } = {},
): Promise<SessionApp> {
  const { store, counter } = countingStore(options.store ?? new InMemorySessionStateStore());
  const gates = new Gates();
  const app = await createTestApp(
    adapter,
    {
      imports: [SessionStateModule.forRoot({ ...options, store })],
      controllers: [SessionTestController, ReadOnlyTestController, ...(extra.controllers ?? [])],
      providers: [{ provide: Gates, useValue: gates }, AllowedGuard, SlowRefusingGuard, LoadingGuard, GatedGuard, ...(extra.providers ?? [])],
    },
    extra.configure,
  );
  const lifecycle = app.get(SessionStateLifecycle);
  return {
    app,
    gates,
    store,
    counter,
    waiting: (id) => lifecycle.locks.waiting(id),
    activeLeases: () => lifecycle.activeLeases,
    coordinatorEntries: () => lifecycle.locks.size,
  };
}

/** `POST /count?gate=<gate>` of the session, parked at its gate: it holds the session's lock until the gate opens. */
export async function holdAtGate(t: SessionApp, cookie: string, gate = 'hold'): Promise<{ answer: Promise<request.Response> }> {
  const answer = request(t.app.getHttpServer())
    .post(`/count?gate=${gate}`)
    .set('Cookie', cookie)
    .then((r) => r);
  await t.gates.arrived(gate);
  return { answer };
}

/** Sends `count` requests of the session (`send` makes one) and waits until they queue in this instance. */
export async function queueBehind(
  t: SessionApp,
  cookie: string,
  send: (http: ReturnType<typeof request>) => request.Test,
  count = 1,
): Promise<Promise<request.Response>[]> {
  const before = t.waiting(idOf(cookie));
  const answers = Array.from({ length: count }, () =>
    send(request(t.app.getHttpServer()))
      .set('Cookie', cookie)
      .then((r) => r),
  );
  await vi.waitFor(() => expect(t.waiting(idOf(cookie))).toBe(before + count));
  return answers;
}

/** The session id inside a `sid=...` cookie pair (unsigned cookies). */
export function idOf(cookie: string): string {
  return cookie.slice(cookie.indexOf('=') + 1);
}

/**
 * The apps a test file starts: `start()` them, `seeded(app)` gives a stored session's cookie; after
 * each test every gate is opened (a failed test leaves no handler parked) and every app closed.
 */
export function sessionApps(): { start: typeof startSessionApp; seeded: (app: SessionApp) => Promise<string> } {
  const apps: SessionApp[] = [];
  afterEach(async () => {
    for (const a of apps) a.gates.openAll();
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
  });
  return {
    start: async (...args) => {
      const app = await startSessionApp(...args);
      apps.push(app);
      return app;
    },
    seeded: async (app) => sessionCookie((await request(app.app.getHttpServer()).post('/seed').expect(200)).headers)!,
  };
}

/**
 * Sends a POST from a raw client that leaves (destroys its socket) once the handler or guard reaches
 * `gate`; resolves when the server has no connection left. The app must listen.
 */
export async function leaveAt(t: SessionApp, path: string, cookie: string, gate: string): Promise<void> {
  const server = t.app.getHttpServer();
  const req = httpRequest({ host: '127.0.0.1', port: server.address().port, method: 'POST', path, headers: { cookie }, agent: false });
  req.on('error', () => {});
  req.end();
  await t.gates.arrived(gate);
  req.destroy();
  const connections = () => new Promise<number>((resolve) => server.getConnections((_: unknown, n: number) => resolve(n)));
  await vi.waitFor(async () => expect(await connections()).toBe(0));
}
