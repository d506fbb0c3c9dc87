import { SessionStateCorruptError, SessionStateError, SessionStateLockLostError } from '../errors/session-state.errors.js';
import type { OwnerSlotAnswer, OwnerSlotClaim } from './owner-slots.js';

/**
 * The store contract: ASP.NET's `SessionStateStoreProviderBase`, in camelCase and async.
 * Every method is one round trip to the backing store (zero for the two that do no I/O).
 * Abstract: what the lifecycle calls. With a default or optional: everything else.
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
  /**
   * When the session was created, or its id last regenerated (`regenerateId()`, e.g. at login),
   * epoch ms: set by the lifecycle, kept verbatim by stores. What `absoluteTimeout` counts from and
   * what a user's list of sessions shows. Absent for sessions stored before it existed.
   */
  readonly created?: number;
  /**
   * Where the session was created from, recorded only when the app opts in (`recordClient`): an
   * opaque string the lifecycle writes (a short user-agent summary and the client address), kept
   * verbatim by stores.
   */
  readonly client?: string;
}

/** What the lifecycle must do with a loaded item (ASP.NET `SessionStateActions`). */
export enum SessionStateActions {
  None = 0,
  /** The record was made by `createUninitializedItem`: treat the session as new. */
  InitializeItem = 1,
}

/** No live session under the id: never stored, removed, or expired. */
export interface SessionStateAbsent {
  readonly kind: 'absent';
  /**
   * The id's session moved to a new id (`regenerateId()`, a login) less than `MOVED_MARKER_MS` ago:
   * the store keeps a marker under the old id (see `removeItem`). Optional: a store without markers
   * answers a plain `absent`. A marker is never a session: no data, no owner, no lock.
   */
  readonly moved?: true;
}

/** Another request holds the session's lock: the holder's lock, never the data. */
export interface SessionStateLocked {
  readonly kind: 'locked';
  /** The holder's lock id: what breaking a stale lock needs (`releaseItemExclusive(id, lockId)`). */
  readonly lockId: string;
  /** Milliseconds the lock has been held. */
  readonly lockAge: number;
  /** When the stored item expires, epoch milliseconds. */
  readonly expires: number;
}

/** `getItem` found the session unlocked: its data, no lock taken. */
export interface SessionStateLoaded {
  readonly kind: 'loaded';
  readonly item: SessionStateStoreData;
  /** `InitializeItem` for a record made by `createUninitializedItem`. */
  readonly actions: SessionStateActions;
  /** When the stored item expires, epoch milliseconds. */
  readonly expires: number;
}

/** `getItemExclusive` (or a hand-over) took the lock: the data, and the caller's lock id. */
export interface SessionStateAcquired {
  readonly kind: 'acquired';
  readonly item: SessionStateStoreData;
  /** The caller's new lock id: the fencing token of every write that ends this lock. */
  readonly lockId: string;
  /** `InitializeItem` for a record made by `createUninitializedItem` (cleared as the lock is taken). */
  readonly actions: SessionStateActions;
  /** When the stored item expires, epoch milliseconds (slid by taking the lock). */
  readonly expires: number;
}

/** The answer of `getItem`: the data, or the lock of a writer holding it, or nothing. */
export type SessionStateRead = SessionStateLoaded | SessionStateLocked | SessionStateAbsent;

/** The answer of `getItemExclusive` and `handOverItemExclusive`: the lock taken, or the holder's, or nothing. */
export type SessionStateAcquisition = SessionStateAcquired | SessionStateLocked | SessionStateAbsent;

/** The answer for an absent or expired session. */
export const SESSION_ABSENT: SessionStateAbsent = Object.freeze({ kind: 'absent' });

/** The answer for an id whose session moved to a new id a moment ago (its marker: see `removeItem`). */
export const SESSION_MOVED: SessionStateAbsent = Object.freeze({ kind: 'absent', moved: true });

/**
 * How long a store keeps the marker of a moved session (ms). A request the browser sent with the old
 * cookie before the login's answer reached it (another tab, a fetch in flight) arrives within the
 * time a request is in flight: seconds. Requests that queued for the login's lock need no marker (they
 * know they waited: 409 whatever the marker's age). Not longer: a login whose answer was lost leaves the
 * browser with the old cookie, whose writes (a second login too) answer 409 while the marker lasts.
 */
export const MOVED_MARKER_MS = 10_000;

/** Called when a store notices that a session expired (the session-end event). */
export type SessionStateExpireCallback = (id: string, item: SessionStateStoreData) => void;

/**
 * Base class of every session store, and the injection token under which the module provides
 * the configured one. Ids given to a store are the raw session ids (never the cookie value).
 *
 * Failures are thrown as the errors of `errors/session-state.errors.ts`, never swallowed:
 * a fenced write that is refused throws `SessionStateLockLostError` with its `reason`
 * (`lock_mismatch`, `item_gone`, `item_exists`), an item over the store's size limit
 * `SessionStateTooLargeError`, an unreachable backend `SessionStateStoreUnavailableError`.
 */
export abstract class SessionStateStore {
  /**
   * Read-only load; takes no lock. Answers `loaded` (the data), `locked` (a writer holds the lock:
   * its lock id and age, no data) or `absent` (none, or expired).
   */
  abstract getItem(id: string): Promise<SessionStateRead>;

  /**
   * The lock alone, for a request polling for a lock another process holds: the holder's lock as
   * `getItem` reports it, or null when nobody holds it (or the session is absent). By default
   * `getItem`; a store that keeps the data apart from the lock answers without reading the data.
   */
  async probeLock(id: string): Promise<SessionStateLocked | null> {
    const read = await this.getItem(id);
    return read.kind === 'locked' ? read : null;
  }

  /**
   * Takes the lock and loads the item in one step: `acquired`, with the caller's new lock id. When
   * another request holds the lock, answers `locked` with that lock's id and age, without a second
   * read. An absent or expired item answers `absent` and takes no lock.
   */
  abstract getItemExclusive(id: string): Promise<SessionStateAcquisition>;

  /**
   * Writes the items and a new expiry, and releases the lock, only if `lockId` still holds it;
   * with `newItem`, only if no live item exists (then `lockId` is ignored). Otherwise throws
   * `SessionStateLockLostError` and writes nothing; its `reason`: `item_exists` (`newItem`, and
   * a live item exists), `item_gone` (no live item), `lock_mismatch` (`lockId` does not hold the
   * lock, or is null).
   */
  abstract setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void>;

  /** Writes the items and a new expiry under the caller's lock and keeps the lock held (a mid-request
   *  `save()`). An existing item: only if `lockId` holds its lock (else SessionStateLockLostError
   *  `lock_mismatch` / `item_gone`); answers `lockId`. With `newItem`: inserts only if no live item
   *  exists (else `item_exists`), locked under a new lock id, which it answers. Optional: a store
   *  without it gets its writes at completion, as before. */
  setItemExclusive?(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<string>;

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
   * (`acquired`: its `item`, its `lockId`; anything else hands nothing over). Throws
   * `SessionStateLockLostError` (with its `reason`) and writes nothing when `lockId` no longer
   * holds the lock.
   *
   * This default takes two round trips (save or release, then `getItemExclusive`, which may find
   * the lock taken by another process meanwhile); a store that can do it in one write should.
   */
  async handOverItemExclusive(id: string, item: SessionStateStoreData, lockId: string, changed: boolean): Promise<SessionStateAcquisition> {
    if (changed) await this.setAndReleaseItemExclusive(id, item, lockId, false);
    else if (!(await this.releaseItemExclusive(id, lockId))) {
      // A release says only whether it released; the refusal's reason is read here (a rare path).
      const reason = (await this.getItem(id)).kind === 'absent' ? 'item_gone' : 'lock_mismatch';
      throw new SessionStateLockLostError(
        'The session lock was lost (broken as stale, or the session was removed) before it could be handed over.',
        reason,
      );
    }
    try {
      return await this.getItemExclusive(id);
    } catch (error) {
      // The save or release went through: that is this call's answer. Nothing is handed over; the
      // waiting request goes to the store itself and meets the problem there.
      if (error instanceof SessionStateCorruptError && error.lockId) await this.releaseItemExclusive(id, error.lockId).catch(() => false);
      return SESSION_ABSENT;
    }
  }

  /**
   * Deletes the item only if `lockId` holds it; otherwise `SessionStateLockLostError` (`reason`:
   * `item_gone` or `lock_mismatch`). The session
   * ends (abandon), and a store that reports session ends reports it, unless `options.moved`: the
   * data lives on under a new id (`regenerateId()`), so nothing ended.
   *
   * Optional, with `options.moved`: the store may keep a marker under the old id for `MOVED_MARKER_MS`
   * (in the same write), which `getItem` and `getItemExclusive` answer as `SESSION_MOVED`: a
   * read-write request still carrying the old cookie is then refused (409, retry with the login's
   * cookie) instead of starting a new session whose cookie would sign the user out. A marker is never
   * a session (no data, no owner: not listed, revoked, counted, capped or reported as ended), is
   * replaced by a new item of that id, and leaves `probeLock` answering null. Only a move leaves one.
   * A store that keeps markers records the lock id of the move in it, and answers a move's removal
   * run again under that lock id (sent again by a client library, or by the lifecycle after a call
   * that got no answer) as done, while the marker lasts: a removal that answers "gone" was then
   * certainly not this lock's, and the lifecycle can tell its own move from another request's.
   */
  abstract removeItem(id: string, lockId: string, options?: RemoveItemOptions): Promise<void>;

  /** Slides the expiry of an existing, unexpired item. Never creates an item, never touches a lock. */
  abstract resetItemTimeout(id: string): Promise<void>;

  /**
   * Optional; the lifecycle never calls it (ASP.NET does, for cookieless sessions). Creates an
   * empty item flagged `InitializeItem`, only if no live item exists.
   */
  createUninitializedItem?(id: string, timeout: number): Promise<void>;

  /**
   * Whether this store keeps moved sessions' markers, with the move's lock id (see `removeItem`).
   * The lifecycle then reads a login's old id found plainly absent, moments after its own removal
   * that got no answer, as another request's doing (a marker of its own would still be there).
   * Default false: a store without markers is never asked to have them.
   */
  get keepsMovedMarkers(): boolean {
    return false;
  }

  /** A fresh, empty in-memory item. No I/O. The lifecycle never calls it. */
  createNewStoreData(timeout: number): SessionStateStoreData {
    return { items: '{}', timeout };
  }

  /**
   * Registers the session-end callback; answers whether this store can report session ends.
   * Called by the application, never by the lifecycle; by default the store cannot.
   */
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
          'Implement revokeOwner in the store (see SessionStateStore), or use a built-in store that has it: ' +
          'InMemorySessionStateStore, DynamoDBSessionStateStore or RedisSessionStateStore.',
      ),
    );
  }

  /**
   * Optional (`maxSessionsPerOwner` needs it): takes a place for session `claim.id` among the live
   * sessions of `claim.owner`, before the save that gives it that owner; atomic, so that concurrent
   * sign-ins on any number of instances never leave more than `claim.max` (see `store/owner-slots.ts`).
   * Over the cap: refused, or the owner's oldest sessions revoked (`claim.policy`). A claim with
   * `replacing` (a login moving an owned session) records the pair: while that move may be under way
   * (`pendingMs`), the new id and the one it replaces count as one place for other claims, or a
   * sign-in of another device meanwhile is refused or revokes one session too many (the conformance
   * suite checks it; `claimOwnerSlot(book, claim)` does it for a book answering its moves).
   */
  claimOwnerSlot?(claim: OwnerSlotClaim): Promise<OwnerSlotAnswer>;

  /**
   * Gives back the place of `id`: a claim whose save certainly wrote nothing, or a session that left
   * the owner (removed, given another owner, or moved to a new id). `movedTo`: the new id of that
   * move, whose record in the book (the pair it made with `id`) is settled now and may go with it.
   */
  releaseOwnerSlot?(owner: string, id: string, movedTo?: string): Promise<void>;

  /**
   * Optional: the live sessions of `owner` (a user's list of devices), in no particular order, each
   * as stored: its id, expiry, timeout, and `created` / `client` where it has them. No lock taken,
   * no expiry slid. The owner index of each store is what it reads (never a scan of all sessions);
   * an index that is eventually consistent may miss a session given its owner a moment before.
   */
  listOwnerSessions?(owner: string): Promise<SessionStateOwnedSession[]>;

  /**
   * Optional: removes the live session `id` only if its owner is `owner` (sign out one device);
   * answers whether it did. As `revokeOwner`, a request holding it at that moment is fenced out: its
   * save fails with `SessionStateLockLostError`.
   */
  revokeItem?(id: string, owner: string): Promise<boolean>;

  /**
   * Optional: notice of a session's lock being released by any process (a release, a save, a
   * removal), so a request waiting for a lock another process holds is woken by the release instead
   * of its next poll. Answers once the store listens (any release after that point is noticed);
   * rejects when it cannot listen (the waiter then polls). Only for waits: the lock coordinator
   * opens one watch per session it polls for and closes it when done. A notice can be lost: the
   * watch's `next` also answers after the store's own fallback pause, and the waiter then checks.
   */
  watchReleases?(id: string): Promise<SessionStateReleaseWatch>;

  /**
   * Opens what the store needs (a connection, a table check, a timer). Optional. The module calls it
   * when each application using the store starts (so it must be idempotent), and `close` when the last
   * of them shuts down; a store may be opened again after a close (an e2e suite's application per test).
   * A store needs no Nest lifecycle hooks of its own for this (Nest would call them once per application).
   */
  init?(): Promise<void> | void;

  /** Closes what `init` opened: when the last application using the store shuts down. Optional. */
  close?(): Promise<void> | void;

  /** Whether the backing store can serve sessions now, for health checks. Default: up (no I/O). */
  async checkHealth(): Promise<SessionStateStoreHealth> {
    return { up: true };
  }
}

/** One live session of an owner, as `listOwnerSessions` answers it. */
export interface SessionStateOwnedSession {
  /** The raw session id: a bearer credential, for the server's use only (never shown to a client). */
  readonly id: string;
  /** When it expires, epoch ms (slid by activity: `expires - timeout` is its last activity, to the store's granularity). */
  readonly expires: number;
  /** Its idle timeout, minutes. */
  readonly timeout: number;
  /** `SessionStateStoreData.created`, when stored. */
  readonly created?: number;
  /** `SessionStateStoreData.client`, when stored (`recordClient`). */
  readonly client?: string;
}

/** A watch on one session's lock releases (`watchReleases`). */
export interface SessionStateReleaseWatch {
  /**
   * Waits for the next release: `released` when one was announced since the watch began or since
   * the previous `next` (a release announced between two waits is not lost), `timeout` after the
   * store's fallback pause (check the lock yourself), `aborted` when `signal` aborts.
   */
  next(signal: AbortSignal): Promise<'released' | 'timeout' | 'aborted'>;
  /** Stops watching (the store stops listening for the session once nobody watches it). */
  close(): void;
}

export interface RemoveItemOptions {
  /** The session moved to a new id (`regenerateId()`): it did not end (and a store may keep a marker: see `removeItem`). */
  readonly moved?: boolean;
  /**
   * The record is a copy this module wrote moments ago under an id no client knows (a move undone):
   * no session ended, and nothing moved; a store reports no end for it.
   */
  readonly undoneCopy?: boolean;
}

/**
 * The answer of `checkHealth`. `details` may be shown on a health endpoint: no secrets, no ids
 * (and no key `status`, which terminus reserves).
 */
export interface SessionStateStoreHealth {
  readonly up: boolean;
  readonly details?: Record<string, string | number | boolean>;
}
