import type { INestApplication, Provider } from '@nestjs/common';
import { SessionStateModule, type SessionStateModuleOptions } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { SessionStateLifecycle } from '../../src/session-state.lifecycle.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { createTestApp, type AdapterName } from '../support/test-app.js';
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
}

/** The test controller on `SessionStateModule.forRoot(options)`, with a counting store. */
export async function startSessionApp(
  adapter: AdapterName,
  options: SessionStateModuleOptions = {},
  extra: { providers?: Provider[] } = {},
): Promise<SessionApp> {
  const { store, counter } = countingStore(options.store ?? new InMemorySessionStateStore());
  const gates = new Gates();
  const app = await createTestApp(adapter, {
    imports: [SessionStateModule.forRoot({ ...options, store })],
    controllers: [SessionTestController, ReadOnlyTestController],
    providers: [{ provide: Gates, useValue: gates }, AllowedGuard, SlowRefusingGuard, LoadingGuard, GatedGuard, ...(extra.providers ?? [])],
  });
  const lifecycle = app.get(SessionStateLifecycle);
  return { app, gates, store, counter, waiting: (id) => lifecycle.locks.waiting(id), activeLeases: () => lifecycle.activeLeases };
}

/** The session id inside a `sid=...` cookie pair (unsigned cookies). */
export function idOf(cookie: string): string {
  return cookie.slice(cookie.indexOf('=') + 1);
}
