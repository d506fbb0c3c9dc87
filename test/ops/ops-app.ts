import { TerminusModule } from '@nestjs/terminus';
import type { INestApplication } from '@nestjs/common';
import { SessionStateModule, type SessionStateModuleOptions } from '../../src/index.js';
import { SessionStateHealthIndicator } from '../../src/health/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { DynamoDBSessionStateStore, type DynamoDBSessionStateStoreOptions } from '../../src/dynamodb/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { SessionTestController } from '../e2e/fixtures/session-test.controller.js';
import { localClientConfig } from '../support/dynamodb-test-helpers.js';
import { Gates } from '../support/gates.js';
import { createTestApp, type AdapterName } from '../support/test-app.js';
import { HealthTestController, OpsTestController } from './fixtures/ops-test.controller.js';
import { flat } from '../../src/testing/flat-store-answer.js';

export type StoreKind = 'memory' | 'dynamodb';
export const STORES: StoreKind[] = ['memory', 'dynamodb'];

/** Every adapter on every store: `describe.each(ADAPTERS_AND_STORES)('... over %s on %s', (adapter, kind) => ...)`. */
export const ADAPTERS_AND_STORES: [AdapterName, StoreKind][] = [
  ['express', 'memory'],
  ['fastify', 'memory'],
  ['express', 'dynamodb'],
  ['fastify', 'dynamodb'],
];

export interface OpsApp {
  app: INestApplication;
  http: any;
  gates: Gates;
  store: SessionStateStore;
  close(): Promise<void>;
}

/** A new store of the given kind; DynamoDB ones on `tableName` (created if needed). */
export async function createStore(kind: StoreKind, tableName: string, options: DynamoDBSessionStateStoreOptions = {}): Promise<SessionStateStore> {
  if (kind === 'memory') return new InMemorySessionStateStore();
  return new DynamoDBSessionStateStore({ tableName, createIfNotExists: true, clientConfig: await localClientConfig(), ...options });
}

/** The lifecycle test controller plus the operations routes (login, owner, revoke, health) on `store`. */
export async function startOpsApp(adapter: AdapterName, store: SessionStateStore, options: SessionStateModuleOptions = {}): Promise<OpsApp> {
  const gates = new Gates();
  const app = await createTestApp(adapter, {
    imports: [SessionStateModule.forRoot({ ...options, store }), TerminusModule.forRoot({ logger: false })],
    controllers: [SessionTestController, OpsTestController, HealthTestController],
    providers: [{ provide: Gates, useValue: gates }, SessionStateHealthIndicator],
  });
  return { app, http: app.getHttpServer(), gates, store, close: () => app.close() };
}

/** Requests of this app waiting for a session's lock. */
export function waitingFor(app: INestApplication, id: string): number {
  return app.get(SessionStateLifecycle).locks.waiting(id);
}

/**
 * Creates the file's DynamoDB table and writes to it once. DynamoDB Local's first writes to a new
 * table can take seconds on a busy machine, long enough for an SDK attempt to time out and be
 * retried, which a conditional write then fails (docs/DYNAMODB.md: "Failures"); tests of other things should
 * not measure that.
 */
export async function prepareTable(tableName: string): Promise<void> {
  const store = (await createStore('dynamodb', tableName)) as DynamoDBSessionStateStore;
  try {
    await store.init();
    await store.setAndReleaseItemExclusive('warm-up', { items: '{}', timeout: 1, owner: 'warm-up' }, null, true);
    const { lockId } = flat(await store.getItemExclusive('warm-up'));
    await store.removeItem('warm-up', lockId!);
  } finally {
    store.destroy();
  }
}
