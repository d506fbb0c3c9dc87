import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionCookie } from './cookie/session-cookie.js';
import { SessionStateCorruptError, SessionStateLockLostError } from './errors/session-state.errors.js';
import { HttpSessionState } from './http-session-state.js';
import type { HttpExchange } from './http/http-exchange.js';
import { SessionLockCoordinator } from './lock/session-lock-coordinator.js';
import { attachLease, leaseOf, type SessionLease } from './session-lease.js';
import { generateSessionId, redactSessionId } from './session-id.js';
import { SessionStateBehavior } from './session-state-behavior.enum.js';
import { SESSION_STATE_OPTIONS } from './session-state.constants.js';
import type { ResolvedSessionStateOptions } from './session-state.options.js';
import { SessionStateActions, SessionStateStore, type SessionStateStoreItem } from './store/session-state-store.js';

type ActiveBehavior = SessionStateBehavior.Required | SessionStateBehavior.ReadOnly;
export type RequestOutcome = 'succeeded' | 'failed';

/**
 * The request lifecycle of ASP.NET's SessionStateModule, top to bottom:
 *   1. `acquire`  — at request start: read the id cookie, load the session (and for Required take
 *                   its exclusive lock, waiting for the current holder);
 *   2. the handler runs with `@Session()`;
 *   3. `complete` — before the response is sent: save-and-release, release, or remove.
 */
@Injectable()
export class SessionStateLifecycle implements BeforeApplicationShutdown {
  private readonly logger = new Logger('SessionState');
  private readonly cookie: SessionCookie;
  /** @internal */
  readonly locks: SessionLockCoordinator;
  /** Leases not yet completed, each with the promise of its completion: shutdown waits for them. */
  private readonly active = new Map<SessionLease, { done: Promise<void>; markDone: () => void }>();

  constructor(
    @Inject(SESSION_STATE_OPTIONS) private readonly options: ResolvedSessionStateOptions,
    @Inject(SessionStateStore) private readonly store: SessionStateStore,
  ) {
    this.cookie = new SessionCookie(options);
    this.locks = new SessionLockCoordinator(store, options, this.logger);
  }

  /** 1. Acquire the request's session once (a guard may have done it already through `SessionStateAccessor`). */
  async acquire(exchange: HttpExchange, behavior: ActiveBehavior): Promise<SessionLease> {
    const existing = leaseOf(exchange.request);
    if (existing) return existing;

    const lease = await this.load(exchange, behavior);
    attachLease(exchange.request, lease);
    let markDone = () => {};
    const done = new Promise<void>((resolve) => (markDone = resolve));
    this.active.set(lease, { done, markDone });
    // Safety net for a lease no interceptor takes over (a guard loaded it, then a later guard
    // refused): release it when the response ends. The interceptor's own path never waits on this.
    exchange.rawResponse.once('close', () => {
      if (!lease.adopted) void this.complete(lease, exchange, 'failed').catch((e) => this.logFailure(e));
    });
    return lease;
  }

  /** 3. End of request, before the response is written. Runs once per lease. */
  complete(lease: SessionLease, exchange: HttpExchange, outcome: RequestOutcome): Promise<void> {
    lease.completion ??= this.finish(lease, exchange, outcome).finally(() => {
      lease.releaseLocal();
      this.active.get(lease)?.markDone();
      this.active.delete(lease);
    });
    return lease.completion;
  }

  private async load(exchange: HttpExchange, behavior: ActiveBehavior): Promise<SessionLease> {
    const id = this.cookie.read(exchange);
    if (id === null) return this.newLease(behavior);

    // Give up waiting for the lock when the client goes away.
    const abort = new AbortController();
    const onClose = () => abort.abort();
    exchange.rawResponse.once('close', onClose);
    try {
      if (behavior === SessionStateBehavior.ReadOnly) {
        const result = await this.locks.acquireShared(id, abort.signal);
        return this.leaseFor(id, behavior, result, null, () => {});
      }
      const { result, releaseLocal } = await this.locks.acquireExclusive(id, abort.signal);
      return await this.leaseFor(id, behavior, result, result.item ? result.lockId : null, releaseLocal);
    } catch (error) {
      if (!(error instanceof SessionStateCorruptError)) throw error;
      return await this.replaceUnreadable(id, behavior, error.lockId, () => {});
    } finally {
      exchange.rawResponse.off('close', onClose);
    }
  }

  private async leaseFor(
    id: string,
    behavior: ActiveBehavior,
    result: SessionStateStoreItem,
    lockId: string | null,
    releaseLocal: () => void,
  ): Promise<SessionLease> {
    const { item } = result;
    // Unknown or expired id: a new session under a new id (never adopt an id a client chose).
    if (!item) {
      releaseLocal();
      return this.newLease(behavior);
    }
    let session: HttpSessionState;
    try {
      session = new HttpSessionState({
        id,
        items: item.items,
        isNew: result.actions === SessionStateActions.InitializeItem,
        isReadOnly: behavior === SessionStateBehavior.ReadOnly,
        timeout: item.timeout,
      });
    } catch {
      return this.replaceUnreadable(id, behavior, lockId, releaseLocal);
    }
    const halfTimeoutMs = (item.timeout * 60_000) / 2;
    return {
      behavior,
      session,
      loadedItems: item.items,
      lockId,
      stored: true,
      refreshExpiry: behavior === SessionStateBehavior.ReadOnly && result.expires - Date.now() < halfTimeoutMs,
      releaseLocal,
      adopted: false,
    };
  }

  /**
   * A stored session that cannot be read must not fail every request of its user: release it,
   * leave the record for inspection (it expires), and start a new session under a new id.
   */
  private async replaceUnreadable(
    id: string,
    behavior: ActiveBehavior,
    lockId: string | null,
    releaseLocal: () => void,
  ): Promise<SessionLease> {
    this.logger.warn(`Session ${redactSessionId(id)} cannot be read; starting a new session.`);
    try {
      if (lockId) await this.release(id, lockId);
    } finally {
      releaseLocal();
    }
    return this.newLease(behavior);
  }

  private newLease(behavior: ActiveBehavior): SessionLease {
    const session = new HttpSessionState({
      id: generateSessionId(),
      items: '{}',
      isNew: true,
      isReadOnly: behavior === SessionStateBehavior.ReadOnly,
      timeout: this.options.timeout,
    });
    return {
      behavior,
      session,
      loadedItems: '{}',
      lockId: null,
      stored: false,
      refreshExpiry: false,
      releaseLocal: () => {},
      adopted: false,
    };
  }

  private async finish(lease: SessionLease, exchange: HttpExchange, outcome: RequestOutcome): Promise<void> {
    const { session, lockId } = lease;
    const loadedId = session.previousId ?? session.id;
    try {
      // Read-only: nothing to save; slide the expiry only when much of it has elapsed.
      if (lease.behavior === SessionStateBehavior.ReadOnly) {
        if (lease.refreshExpiry) await this.store.resetItemTimeout(loadedId);
        return;
      }
      // The handler (or a pipe, or a guard) threw: its changes are discarded.
      if (outcome === 'failed') {
        if (lockId) await this.release(loadedId, lockId);
        return;
      }
      if (session.isAbandoned) {
        if (lockId) await this.store.removeItem(loadedId, lockId);
        this.cookie.clear(exchange);
        return;
      }
      const items = session.serializeItems();
      const data = { items, timeout: session.timeout };
      // regenerateId(): the data moves to the new id, then the old record goes.
      if (session.previousId !== undefined) {
        await this.store.setAndReleaseItemExclusive(session.id, data, null, true);
        this.cookie.write(exchange, session.id);
        if (lockId) await this.removeMovedSession(loadedId, lockId);
        return;
      }
      // New and still empty: nothing stored, no cookie.
      if (!lease.stored && items === '{}') return;
      if (!lease.stored || session.isNew || items !== lease.loadedItems || session.timeoutChanged) {
        await this.store.setAndReleaseItemExclusive(session.id, data, lockId, !lease.stored);
        if (session.isNew) this.cookie.write(exchange, session.id);
        return;
      }
      if (lockId) await this.release(loadedId, lockId);
    } catch (error) {
      // A save that failed before writing (too large, store unreachable) must not leave our lock behind.
      if (lockId && !(error instanceof SessionStateLockLostError)) {
        await this.release(loadedId, lockId).catch((e) => this.logFailure(e));
      }
      throw error;
    }
  }

  private async release(id: string, lockId: string): Promise<void> {
    if (!(await this.store.releaseItemExclusive(id, lockId))) {
      this.logger.warn(`Session ${redactSessionId(id)}: the lock of this request had already been broken as stale.`);
    }
  }

  private async removeMovedSession(oldId: string, lockId: string): Promise<void> {
    try {
      await this.store.removeItem(oldId, lockId);
    } catch (error) {
      if (!(error instanceof SessionStateLockLostError)) throw error;
      // The data is safe under the new id; the old record only waits for its expiry.
      this.logger.warn(`Session ${redactSessionId(oldId)}: lock lost before the old id could be removed after regenerateId().`);
    }
  }

  private logFailure(error: unknown): void {
    this.logger.error(`Releasing a session lock failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  /**
   * Shutdown: waiting requests are turned away (503); in-flight ones finish and release their locks.
   * A handler still running after `executionTimeout` is past saving: its lock is released.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.locks.close();
    if (this.active.size === 0) return;
    const stopWaiting = new AbortController();
    const allDone = Promise.allSettled([...this.active.values()].map((entry) => entry.done));
    await Promise.race([allDone, sleep(this.options.executionTimeoutMs, undefined, { signal: stopWaiting.signal }).catch(() => {})]);
    stopWaiting.abort();
    for (const lease of this.active.keys()) {
      if (!lease.lockId) continue;
      this.logger.warn('Releasing the lock of a request still running at shutdown; its changes will not be saved.');
      await this.release(lease.session.previousId ?? lease.session.id, lease.lockId).catch((e) => this.logFailure(e));
    }
  }
}
