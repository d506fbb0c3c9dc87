import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { cookieMaxAgeOf, renewsCookie } from './cookie/cookie-lifetime.js';
import { SessionCookie } from './cookie/session-cookie.js';
import {
  SessionStateCorruptError,
  SessionStateLockLostError,
  SessionStateWaitAbortedError,
} from './errors/session-state.errors.js';
import { HttpSessionState } from './http-session-state.js';
import type { HttpExchange } from './http/http-exchange.js';
import { SessionLockCoordinator } from './lock/session-lock-coordinator.js';
import { attachLease, type SessionLease } from './session-lease.js';
import { shouldSaveOnError } from './save-on-error.policy.js';
import { generateSessionId, redactSessionId } from './session-id.js';
import { SessionStateBehavior } from './session-state-behavior.enum.js';
import type { ActiveBehavior } from './session-state-behavior.resolver.js';
import { SESSION_STATE_OPTIONS } from './session-state.constants.js';
import type { ResolvedSessionStateOptions } from './session-state.options.js';
import { SessionStateActions, SessionStateStore, type SessionStateStoreItem } from './store/session-state-store.js';

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
  /** Acquisitions per request (a guard and the interceptor share one). */
  private readonly pending = new WeakMap<object, Promise<SessionLease>>();
  /** Set once shutdown began. */
  private closing = false;
  /** Leases not yet completed: shutdown waits for them. */
  private readonly active = new Set<SessionLease>();
  /** Called when the last active lease completes (set while shutdown waits). */
  private onDrained: (() => void) | undefined;

  constructor(
    @Inject(SESSION_STATE_OPTIONS) private readonly options: ResolvedSessionStateOptions,
    @Inject(SessionStateStore) private readonly store: SessionStateStore,
  ) {
    this.cookie = new SessionCookie(options);
    this.locks = new SessionLockCoordinator(store, options, this.logger);
  }

  /**
   * 1. Acquire the request's session, once per request: a guard may have asked first through
   * `SessionStateAccessor` (`owner: 'guard'`); the interceptor then takes that lease over.
   */
  acquire(exchange: HttpExchange, behavior: ActiveBehavior, owner: 'interceptor' | 'guard'): Promise<SessionLease> {
    let pending = this.pending.get(exchange.request);
    if (!pending) this.pending.set(exchange.request, (pending = this.begin(exchange, behavior, owner)));
    return pending.then((lease) => {
      if (owner === 'interceptor') lease.adopted = true;
      return lease;
    });
  }

  /** The outcome of a request whose handler (or a pipe) threw: `saveOnError` may keep its changes. */
  outcomeOfError(error: unknown): RequestOutcome {
    return shouldSaveOnError(this.options.saveOnError, error, this.logger) ? 'succeeded' : 'failed';
  }

  /** 3. End of request, before the response is written. Runs once per lease. */
  complete(lease: SessionLease, exchange: HttpExchange, outcome: RequestOutcome): Promise<void> {
    lease.completion ??= this.finish(lease, exchange, outcome).finally(() => {
      lease.releaseLocal();
      this.active.delete(lease);
      if (this.active.size === 0) this.onDrained?.();
    });
    return lease.completion;
  }

  private async begin(exchange: HttpExchange, behavior: ActiveBehavior, owner: 'interceptor' | 'guard'): Promise<SessionLease> {
    const response = exchange.rawResponse;
    const abort = new AbortController();
    let lease: SessionLease | undefined;
    // The client went away: stop waiting for the lock; and a lease no interceptor took over (a guard
    // loaded it, then the request was refused or dropped) is released with the response.
    const onClose = () => {
      abort.abort();
      if (lease && !lease.adopted) void this.complete(lease, exchange, 'failed').catch((e) => this.logFailure(e));
    };
    response.once('close', onClose);
    if (response.closed || response.destroyed) abort.abort();

    lease = await this.load(exchange, behavior, abort.signal);
    lease.adopted = owner === 'interceptor';
    attachLease(exchange.request, lease);
    this.active.add(lease);
    if (this.closing) {
      // Shutdown began while the store answered: this request will not be served.
      await this.complete(lease, exchange, 'failed');
      throw new SessionStateWaitAbortedError('The application is shutting down.');
    }
    if (abort.signal.aborted && !lease.adopted) onClose(); // closed while a guard was loading it
    return lease;
  }

  private async load(exchange: HttpExchange, behavior: ActiveBehavior, signal: AbortSignal): Promise<SessionLease> {
    const read = this.cookie.read(exchange);
    if (read === null) return this.newLease(behavior);
    const { id, resign } = read;
    try {
      if (behavior === SessionStateBehavior.ReadOnly) {
        const result = await this.locks.acquireShared(id, signal);
        return this.leaseFor(id, behavior, result, null, () => {}, resign);
      }
      const { result, releaseLocal } = await this.locks.acquireExclusive(id, signal);
      return await this.leaseFor(id, behavior, result, result.item ? result.lockId : null, releaseLocal, resign);
    } catch (error) {
      if (!(error instanceof SessionStateCorruptError)) throw error;
      return await this.replaceUnreadable(id, behavior, error.lockId, () => {});
    }
  }

  private async leaseFor(
    id: string,
    behavior: ActiveBehavior,
    result: SessionStateStoreItem,
    lockId: string | null,
    releaseLocal: () => void,
    resignCookie: boolean,
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
      resignCookie,
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
      resignCookie: false,
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
        const renew = lease.refreshExpiry && renewsCookie(session, this.options, exchange);
        if ((lease.resignCookie || renew) && lease.stored) this.setCookie(exchange, loadedId, session);
        return;
      }
      // The handler (or a pipe, or a guard) threw: its changes are discarded.
      if (outcome === 'failed') {
        if (lockId) await this.release(loadedId, lockId);
        return;
      }
      if (session.isAbandoned) {
        if (lockId) await this.store.removeItem(loadedId, lockId);
        this.setCookie(exchange, null);
        return;
      }
      const items = session.serializeItems();
      const data = { items, timeout: session.timeout };
      // regenerateId(): the data moves to the new id, then the old record goes.
      if (session.previousId !== undefined) {
        await this.store.setAndReleaseItemExclusive(session.id, data, null, true);
        this.setCookie(exchange, session.id, session);
        if (lockId) await this.removeMovedSession(loadedId, lockId);
        return;
      }
      // New and still empty: nothing stored, no cookie.
      if (!lease.stored && items === '{}') return;
      if (!lease.stored || session.isNew || items !== lease.loadedItems || session.timeoutChanged) {
        await this.store.setAndReleaseItemExclusive(session.id, data, lockId, !lease.stored);
        if (session.isNew || lease.resignCookie || renewsCookie(session, this.options, exchange)) this.setCookie(exchange, session.id, session);
        return;
      }
      if (lockId) await this.release(loadedId, lockId);
      if (lease.resignCookie || renewsCookie(session, this.options, exchange)) this.setCookie(exchange, loadedId, session);
    } catch (error) {
      // A save that failed before writing (too large, store unreachable) must not leave our lock behind.
      if (lockId && !(error instanceof SessionStateLockLostError)) {
        await this.release(loadedId, lockId).catch((e) => this.logFailure(e));
      }
      throw error;
    }
  }

  /** Sets (or, with null, clears) the id cookie, unless an `@Res()` handler already sent the response. */
  private setCookie(exchange: HttpExchange, id: string | null, session?: HttpSessionState): void {
    if (exchange.rawResponse.headersSent) {
      this.logger.warn(
        'The session cookie could not be set: the response was already sent (an @Res() handler without passthrough: true).',
      );
      return;
    }
    if (id === null) this.cookie.clear(exchange);
    else this.cookie.write(exchange, id, session && cookieMaxAgeOf(session, this.options));
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
    this.closing = true;
    this.locks.close();
    if (this.active.size === 0) return;
    const stopWaiting = new AbortController();
    const drained = new Promise<void>((resolve) => (this.onDrained = resolve));
    await Promise.race([drained, sleep(this.options.executionTimeoutMs, undefined, { signal: stopWaiting.signal }).catch(() => {})]);
    stopWaiting.abort();
    for (const lease of this.active) {
      if (!lease.lockId) continue;
      this.logger.warn('Releasing the lock of a request still running at shutdown; its changes will not be saved.');
      await this.release(lease.session.previousId ?? lease.session.id, lease.lockId).catch((e) => this.logFailure(e));
    }
  }
}
