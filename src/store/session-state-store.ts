import { SessionStateCorruptError, SessionStateError, SessionStateLockLostError } from '../errors/session-state.errors.js';

/**
 * The store contract: ASP.NET's `SessionStateStoreProviderBase`, in camelCase and async.
 * Every method is one round trip to the backing store (zero for the two that do no I/O).
 */

/** The data of one session, as a store keeps it. */
export interface SessionStateStoreData {
  /**
   * The session's values, serialised as JSON once by the lifecycle. The lifecycle also compares
   * this string with the one it loaded to detect changes (nested mutations included), so stores
   * keep it verbatim and never serialise twice.
   */
  readonly items: string;
  /** Minutes of inactivity after which the session expires; per session. */
  readonly timeout: number;
  /**
   * Who the session belongs to (`session.owner`, set by the app, typically at login): what
   * `revokeOwner` finds sessions by. Absent for sessions without an owner.
   */
  readonly owner?: string;
}

/** What the lifecycle must do with a loaded item (ASP.NET `SessionStateActions`). */
export enum SessionStateActions {
  None = 0,
  /** The record was made by `createUninitializedItem`: treat the session as new. */
  InitializeItem = 1,
}

/** The answer of `getItem` and `getItemExclusive`. */
export interface SessionStateStoreItem {
  /**
   * The stored data; `null` when the session is absent or expired, and, for `getItemExclusive`,
   * when another request holds the lock (`locked` is then `true`).
   */
  readonly item: SessionStateStoreData | null;
  /** `true` when a writer (another request) holds the lock. */
  readonly locked: boolean;
  /** Milliseconds the current lock has been held; 0 when unlocked. */
  readonly lockAge: number;
  /**
   * `getItemExclusive` that acquired: the caller's new lock id (its fencing token).
   * When `locked`: the holder's lock id (what breaking a stale lock needs). Otherwise `null`.
   */
  readonly lockId: string | null;
  /** `InitializeItem` for a record made by `createUninitializedItem`. */
  readonly actions: SessionStateActions;
  /** When the stored item expires, epoch milliseconds; 0 when there is no item. */
  readonly expires: number;
}

/** The answer for an absent or expired session. */
export const NO_SESSION_ITEM: SessionStateStoreItem = Object.freeze({
  item: null,
  locked: false,
  lockAge: 0,
  lockId: null,
  actions: SessionStateActions.None,
  expires: 0,
});

/** Called when a store notices that a session expired (the session-end event). */
export type SessionStateExpireCallback = (id: string, item: SessionStateStoreData) => void;

/**
 * Base class of every session store, and the injection token under which the module provides
 * the configured one. Ids given to a store are the raw session ids (never the cookie value).
 *
 * Failures are thrown as the errors of `errors/session-state.errors.ts`, never swallowed:
 * a fenced write that lost its lock throws `SessionStateLockLostError`, an item over the
 * store's size limit `SessionStateTooLargeError`, an unreachable backend
 * `SessionStateStoreUnavailableError`.
 */
export abstract class SessionStateStore {
  /** Read-only load. Takes no lock; reports the lock of a writer holding the item. */
  abstract getItem(id: string): Promise<SessionStateStoreItem>;

  /**
   * The lock state alone, for a request polling for a lock another process holds: `locked`,
   * `lockAge` and `lockId` as `getItem` reports them; `item` may be left out (null). By default
   * `getItem`; a store that keeps the data apart from the lock answers without reading the data.
   */
  probeLock(id: string): Promise<SessionStateStoreItem> {
    return this.getItem(id);
  }

  /**
   * Takes the lock and loads the item in one step. When another request holds the lock, answers
   * `locked: true` with that lock's `lockAge` and `lockId`, without a second read. An absent or
   * expired item answers `item: null, locked: false` and takes no lock.
   */
  abstract getItemExclusive(id: string): Promise<SessionStateStoreItem>;

  /**
   * Writes the items and a new expiry, and releases the lock, only if `lockId` still holds it;
   * with `newItem`, only if no item exists (then `lockId` is ignored). Otherwise throws
   * `SessionStateLockLostError` and writes nothing.
   */
  abstract setAndReleaseItemExclusive(
    id: string,
    item: SessionStateStoreData,
    lockId: string | null,
    newItem: boolean,
  ): Promise<void>;

  /**
   * Releases the lock and slides the expiry, touching nothing else, only if `lockId` still holds
   * it. Answers whether it did (false: the lock was broken as stale, or the item is gone).
   */
  abstract releaseItemExclusive(id: string, lockId: string): Promise<boolean>;

  /**
   * Passes the lock from its holder (`lockId`) straight to the next request of this process that
   * waits for the session, without unlocking it in between: with `changed`, writes `item` as
   * `setAndReleaseItemExclusive` does, otherwise keeps the stored items (`item` is then what the
   * holder loaded) and slides the expiry as `releaseItemExclusive` does; and locks the session
   * again under a new lock id. Answers the new holder's acquisition as `getItemExclusive` would
   * (its `item`, its `lockId`). Throws `SessionStateLockLostError` and writes nothing when `lockId`
   * no longer holds the lock.
   *
   * This default takes two round trips (save or release, then `getItemExclusive`, which may find
   * the lock taken by another process meanwhile); a store that can do it in one write should.
   */
  async handOverItemExclusive(id: string, item: SessionStateStoreData, lockId: string, changed: boolean): Promise<SessionStateStoreItem> {
    if (changed) await this.setAndReleaseItemExclusive(id, item, lockId, false);
    else if (!(await this.releaseItemExclusive(id, lockId))) {
      throw new SessionStateLockLostError('The session lock was lost (broken as stale, or the session was removed) before it could be handed over.');
    }
    try {
      return await this.getItemExclusive(id);
    } catch (error) {
      // The save or release went through: that is this call's answer. Nothing is handed over; the
      // waiting request goes to the store itself and meets the problem there.
      if (error instanceof SessionStateCorruptError && error.lockId) await this.releaseItemExclusive(id, error.lockId).catch(() => false);
      return NO_SESSION_ITEM;
    }
  }

  /**
   * Deletes the item only if `lockId` holds it; otherwise `SessionStateLockLostError`. The session
   * ends (abandon), and a store that reports session ends reports it, unless `options.moved`: the
   * data lives on under a new id (`regenerateId()`), so nothing ended.
   */
  abstract removeItem(id: string, lockId: string, options?: RemoveItemOptions): Promise<void>;

  /** Slides the expiry of an existing, unexpired item. Never creates an item, never touches a lock. */
  abstract resetItemTimeout(id: string): Promise<void>;

  /** Creates an empty item flagged `InitializeItem`, only if no item exists. */
  abstract createUninitializedItem(id: string, timeout: number): Promise<void>;

  /** A fresh, empty in-memory item. No I/O. */
  createNewStoreData(timeout: number): SessionStateStoreData {
    return { items: '{}', timeout };
  }

  /** Registers the session-end callback; answers whether this store can report session ends. */
  setItemExpireCallback(_callback: SessionStateExpireCallback | undefined): boolean {
    return false;
  }

  /**
   * Removes every live session whose `owner` is `owner` (sign out everywhere); answers how many.
   * A request holding one of them at that moment is fenced out: its save fails with
   * `SessionStateLockLostError`. Stores written before this method existed inherit this default,
   * which throws: nothing else depends on it.
   */
  revokeOwner(_owner: string): Promise<number> {
    return Promise.reject(
      new SessionStateError(
        `${this.constructor.name} does not implement revokeOwner(owner): sessions cannot be revoked by owner with this store. ` +
          'Implement revokeOwner in the store (see SessionStateStore), or use InMemorySessionStateStore or DynamoDBSessionStateStore.',
      ),
    );
  }

  /** Whether the backing store can serve sessions now, for health checks. Default: up (no I/O). */
  async checkHealth(): Promise<SessionStateStoreHealth> {
    return { up: true };
  }
}

export interface RemoveItemOptions {
  /** The session moved to a new id (`regenerateId()`): it did not end. */
  readonly moved?: boolean;
}

/**
 * The answer of `checkHealth`. `details` may be shown on a health endpoint: no secrets, no ids
 * (and no key `status`, which terminus reserves).
 */
export interface SessionStateStoreHealth {
  readonly up: boolean;
  readonly details?: Record<string, string | number | boolean>;
}
