import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import {
  SessionStateStore,
  type RemoveItemOptions,
  type SessionStateAcquisition,
  type SessionStateExpireCallback,
  type SessionStateLocked,
  type SessionStateRead,
  type SessionStateReleaseWatch,
  type SessionStateStoreData,
  type SessionStateStoreHealth,
} from '../store/session-state-store.js';
import { secondsSince, type SessionStateMetrics, type StoreOperationOutcome } from './session-state-metrics.js';
import { classifyStoreFailure } from './store-failure.js';
import { recordStoreError } from '../errors/store-error-origin.js';
import { joinStore, leaveStore } from '../store/store-users.js';
import type { StoreFailureLog } from './store-failure-log.js';

/**
 * The configured store as the lifecycle uses it: every operation is timed
 * (`session_state.store.operation.duration`) and every failure logged (rate-limited), in one
 * place, so no store has to do either. Answers and errors pass through unchanged. Only what the
 * module calls is measured (not `createUninitializedItem`, which it never calls).
 */
export class InstrumentedSessionStateStore extends SessionStateStore implements OnModuleInit, OnApplicationShutdown {
  private readonly where: string;
  private readonly cleanups: (() => void)[] = [];
  /** Whether this application opened the store (a module Nest closes without starting it never did). */
  private joined = false;
  /** What every store call runs within, if anything (see `runCallsWithin`): unset, no wrapper per call. */
  private within: (<T>(call: () => Promise<T>) => Promise<T>) | undefined;

  constructor(
    private readonly inner: SessionStateStore,
    private readonly metrics: SessionStateMetrics,
    private readonly failures: StoreFailureLog,
  ) {
    super();
    const table = (inner as { tableName?: unknown }).tableName;
    this.where = typeof table === 'string' ? `DynamoDB table "${table}"` : inner.constructor.name;
    // Optional in the contract: present here only when the store has it (the lifecycle asks).
    if (inner.setItemExclusive) {
      this.setItemExclusive = (id, item, lockId, newItem) =>
        this.run('setItemExclusive', id, () => inner.setItemExclusive!(id, item, lockId, newItem));
    }
    if (inner.claimOwnerSlot) {
      this.claimOwnerSlot = (claim) => this.run('claimOwnerSlot', claim.id, () => inner.claimOwnerSlot!(claim));
      this.releaseOwnerSlot = (owner, id, movedTo) =>
        this.run('releaseOwnerSlot', id, () => inner.releaseOwnerSlot?.(owner, id, movedTo) ?? Promise.resolve());
    }
    // Only a store that announces releases has the hook: the lock coordinator polls the others.
    if (!inner.watchReleases) this.watchReleases = undefined;
    if (inner.listOwnerSessions) {
      this.listOwnerSessions = (owner) => this.run('listOwnerSessions', owner, () => inner.listOwnerSessions!(owner));
    }
    if (inner.revokeItem) this.revokeItem = (id, owner) => this.run('revokeItem', id, () => inner.revokeItem!(id, owner));
  }

  override get keepsMovedMarkers(): boolean {
    return this.inner.keepsMovedMarkers;
  }

  override listOwnerSessions?: SessionStateStore['listOwnerSessions'];

  override revokeItem?: SessionStateStore['revokeItem'];

  override watchReleases?(id: string): Promise<SessionStateReleaseWatch> {
    return this.inner.watchReleases!(id);
  }

  override setItemExclusive?: SessionStateStore['setItemExclusive'];
  override claimOwnerSlot?: SessionStateStore['claimOwnerSlot'];
  override releaseOwnerSlot?: SessionStateStore['releaseOwnerSlot'];

  getItem(id: string): Promise<SessionStateRead> {
    return this.run('getItem', id, () => this.inner.getItem(id));
  }

  override probeLock(id: string): Promise<SessionStateLocked | null> {
    return this.run('probeLock', id, () => this.inner.probeLock(id));
  }

  getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    return this.run('getItemExclusive', id, () => this.inner.getItemExclusive(id));
  }

  setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    return this.run('setAndReleaseItemExclusive', id, () => this.inner.setAndReleaseItemExclusive(id, item, lockId, newItem));
  }

  override handOverItemExclusive(id: string, item: SessionStateStoreData, lockId: string, changed: boolean): Promise<SessionStateAcquisition> {
    return this.run('handOverItemExclusive', id, () => this.inner.handOverItemExclusive(id, item, lockId, changed));
  }

  releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    return this.run(
      'releaseItemExclusive',
      id,
      () => this.inner.releaseItemExclusive(id, lockId),
      (released) => (released ? 'ok' : 'condition_failed'),
    );
  }

  removeItem(id: string, lockId: string, options?: RemoveItemOptions): Promise<void> {
    return this.run('removeItem', id, () => this.inner.removeItem(id, lockId, options));
  }

  resetItemTimeout(id: string): Promise<void> {
    return this.run('resetItemTimeout', id, () => this.inner.resetItemTimeout(id));
  }

  override revokeOwner(owner: string): Promise<number> {
    return this.run('revokeOwner', owner, () => this.inner.revokeOwner(owner));
  }

  override createNewStoreData(timeout: number): SessionStateStoreData {
    return this.inner.createNewStoreData(timeout);
  }

  override setItemExpireCallback(callback: SessionStateExpireCallback | undefined): boolean {
    return this.inner.setItemExpireCallback(callback);
  }

  override checkHealth(): Promise<SessionStateStoreHealth> {
    return this.inner.checkHealth();
  }

  /** Runs `cleanup` when the application shuts down (e.g. removes a middleware added to the store's client). */
  onShutdown(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  /**
   * Runs every store call of this application within `scope` from now on: marks them as this
   * application's, for what the store counts per application (DynamoDB's consumed capacity).
   */
  runCallsWithin(scope: <T>(call: () => Promise<T>) => Promise<T>): void {
    this.within = scope;
  }

  /** This application starts using the store: the first opens it (see store-users.ts). */
  async onModuleInit(): Promise<void> {
    await joinStore(this.inner);
    this.joined = true;
  }

  /** This application is done with the store: the last one that started with it closes it. */
  async onApplicationShutdown(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    if (!this.joined) return;
    this.joined = false;
    await leaveStore(this.inner);
  }

  private run<T>(
    operation: string,
    secret: string,
    unscoped: () => Promise<T>,
    outcomeOf: (answer: T) => StoreOperationOutcome = () => 'ok',
  ): Promise<T> {
    const within = this.within;
    const call = within ? () => within(unscoped) : unscoped;
    // Without an OpenTelemetry SDK nothing is timed: failures are still classified and logged.
    if (!this.metrics.enabled) {
      const failed = (error: unknown) => this.failed(operation, secret, error, undefined);
      try {
        return call().catch(failed);
      } catch (error) {
        return Promise.reject(error as Error).catch(failed); // a store that throws instead of rejecting
      }
    }
    return this.timed(operation, secret, call, outcomeOf);
  }

  private failed(operation: string, secret: string, thrown: unknown, start: number | undefined): never {
    // A store that rejects with a string (or nothing): an Error, so that it is known as the store's, answered
    // by the catalog and logged redacted; passed on as it was, Nest logged it raw, session id and all (review R17).
    const error = typeof thrown === 'object' && thrown !== null ? thrown : new Error(`The store rejected with a non-error value: ${String(thrown)}`);
    recordStoreError(error, [secret]);
    const { outcome, failure } = classifyStoreFailure(error);
    if (start !== undefined) this.metrics.storeOperation(operation, outcome, secondsSince(start));
    if (failure) this.failures.report({ failure, operation, store: this.where, error, secrets: [secret] });
    throw error;
  }

  private async timed<T>(operation: string, secret: string, call: () => Promise<T>, outcomeOf: (answer: T) => StoreOperationOutcome): Promise<T> {
    const start = performance.now();
    try {
      const answer = await call();
      this.metrics.storeOperation(operation, outcomeOf(answer), secondsSince(start));
      return answer;
    } catch (error) {
      this.failed(operation, secret, error, start);
    }
  }
}
