import { randomBytes } from 'node:crypto';
import { SessionStateLockLostError, type SessionStateLockLostReason } from '../../errors/session-state.errors.js';
import {
  MOVED_MARKER_MS,
  SESSION_ABSENT,
  SESSION_MOVED,
  SessionStateActions,
  SessionStateStore,
  type RemoveItemOptions,
  type SessionStateAbsent,
  type SessionStateAcquired,
  type SessionStateAcquisition,
  type SessionStateExpireCallback,
  type SessionStateLocked,
  type SessionStateOwnedSession,
  type SessionStateRead,
  type SessionStateStoreData,
} from '../session-state-store.js';
import type { InMemorySessionStateStoreOptions } from './in-memory-session-state-store.options.js';
import { claimOwnerSlot, movesUnderWay, type OwnerSlotAnswer, type OwnerSlotBook, type OwnerSlotClaim } from '../owner-slots.js';

interface InMemoryRecord {
  items: string;
  timeout: number;
  expires: number;
  lockId: string | null;
  lockDate: number;
  uninitialized: boolean;
  owner: string | undefined;
  created: number | undefined;
  client: string | undefined;
}

/**
 * The embedded store: one process, no I/O. Items are kept serialised, so no request ever shares
 * an object with another. Expired items read as absent at once and are swept (with the expire
 * callback) on an unref'd timer that is cleared when the application shuts down.
 *
 * Session-end events (`setItemExpireCallback`), once per session: expiry (at the sweep), `abandon()`
 * and `revokeOwner`. A session only moved by `regenerateId()` has not ended and is not reported; its
 * old id keeps a marker for `MOVED_MARKER_MS` (answered `SESSION_MOVED`, swept with the records).
 */
export class InMemorySessionStateStore extends SessionStateStore {
  private readonly records = new Map<string, InMemoryRecord>();
  /**
   * Markers of moved sessions (old id → until when, epoch ms, and the lock id whose move left it): see `removeItem`. Apart from the
   * records, so that no list, revocation, cap or sweep of sessions ever meets one.
   */
  private readonly movedMarkers = new Map<string, { readonly until: number; readonly by: string }>();
  /** Session ids by owner, for `revokeOwner`. Kept in step with `records` by `put` and `delete`. */
  private readonly byOwner = new Map<string, Set<string>>();
  /** `maxSessionsPerOwner`'s book: per owner, the sessions that took a place (id → when). */
  private readonly slots = new Map<string, Map<string, number>>();
  /** Per owner's book, the moves it recorded (new id → the id it replaces): see `movesUnderWay`. */
  private readonly slotMoves = new Map<string, Map<string, string>>();
  /** Per owner's book, how long its entries may be saves under way (the last claim's `pendingMs`): for the sweep. */
  private readonly slotsPendingMs = new Map<string, number>();
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  /** Running from the store's making (unref'd), stopped when the last application using it ends. */
  private sweepTimer: NodeJS.Timeout | undefined;
  private expireCallback: SessionStateExpireCallback | undefined;
  /**
   * Lock ids: unique within this store (one process) is all a fencing token needs here, so a
   * random prefix per store and a counter, not a UUID per lock (a measurable cost per request).
   */
  private readonly lockIdPrefix = `${randomBytes(6).toString('base64url')}-`;
  private lockSequence = 0;

  /** Moved sessions' markers, with the move's lock id (see `removeItem`). */
  override get keepsMovedMarkers(): boolean {
    return true;
  }

  constructor(options: InMemorySessionStateStoreOptions = {}) {
    super();
    this.now = options.clock ?? Date.now;
    const interval = options.sweepIntervalMs ?? 60_000;
    // Beyond 2^31-1 ms Node fires the timer after 1 ms: the store would sweep without pause.
    if (!Number.isFinite(interval) || interval <= 0 || interval > 2 ** 31 - 1) {
      throw new TypeError('InMemorySessionStateStore: sweepIntervalMs must be a positive number of milliseconds, at most 2147483647.');
    }
    this.sweepIntervalMs = interval;
    this.startSweeping();
  }

  private startSweeping(): void {
    this.sweepTimer ??= setInterval(() => this.sweep(), this.sweepIntervalMs).unref();
  }

  async getItem(id: string): Promise<SessionStateRead> {
    const record = this.live(id);
    if (!record) return this.absent(id);
    if (record.lockId !== null) return this.locked(record, record.lockId);
    return { kind: 'loaded', item: itemOf(record), actions: actionsOf(record), expires: record.expires };
  }

  async getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    const record = this.live(id);
    if (!record) return this.absent(id);
    if (record.lockId !== null) return this.locked(record, record.lockId);
    record.lockDate = this.now();
    // The expiry slides when the lock is taken too, so a long request never sees its session expire under it.
    record.expires = record.lockDate + record.timeout * 60_000;
    const answer = this.acquired(record);
    // Whoever loads an uninitialized item initializes it; the flag is cleared with the lock taken.
    record.uninitialized = false;
    return answer;
  }

  async setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    const existing = this.records.get(id);
    if (newItem) {
      if (existing && !this.expired(existing)) {
        throw new SessionStateLockLostError('A session with this id already exists; the new session was not written.', 'item_exists');
      }
    } else if (lockId === null || !existing || existing.lockId !== lockId) {
      throw lockLost(this.refusal(existing, lockId), 'the changes of this request were not saved');
    }
    this.put(id, recordOf(item, this.now()));
  }

  /** A mid-request save: written as `setAndReleaseItemExclusive` writes, the lock kept (its age too). */
  override async setItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<string> {
    const existing = this.records.get(id);
    const now = this.now();
    if (newItem) {
      if (existing && !this.expired(existing)) {
        throw new SessionStateLockLostError('A session with this id already exists; the new session was not written.', 'item_exists');
      }
      this.put(id, recordOf(item, now));
      return this.acquired(this.records.get(id)!).lockId;
    }
    if (lockId === null || !existing || existing.lockId !== lockId) {
      throw lockLost(this.refusal(existing, lockId), 'the changes of this request were not saved');
    }
    this.put(id, { ...recordOf(item, now), lockId, lockDate: existing.lockDate });
    return lockId;
  }

  /** In one step: the lock never comes free between the two requests. */
  override async handOverItemExclusive(id: string, item: SessionStateStoreData, lockId: string, changed: boolean): Promise<SessionStateAcquisition> {
    const record = this.records.get(id);
    if (!record || record.lockId !== lockId) throw lockLost(this.refusal(record, lockId), 'it could not be handed over');
    const now = this.now();
    if (changed) {
      this.put(id, { ...record, items: item.items, timeout: item.timeout, owner: item.owner, created: item.created, client: item.client });
    }
    const holder = this.records.get(id)!;
    holder.lockDate = now;
    holder.expires = now + holder.timeout * 60_000;
    return this.acquired(holder);
  }

  async releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    const record = this.records.get(id);
    if (!record || record.lockId !== lockId) return false;
    record.lockId = null;
    record.expires = this.now() + record.timeout * 60_000;
    return true;
  }

  async removeItem(id: string, lockId: string, options: RemoveItemOptions = {}): Promise<void> {
    const record = this.records.get(id);
    // This lock's move, already made (a removal sent again): done.
    if (!record && options.moved && this.movedBy(id) === lockId) return;
    if (!record || record.lockId !== lockId) throw lockLost(this.refusal(record, lockId), 'the session was not removed');
    this.delete(id, record);
    // Moved (a login): a request with the old cookie is told so for a while (SESSION_MOVED).
    if (options.moved) this.movedMarkers.set(id, { until: this.now() + MOVED_MARKER_MS, by: lockId });
    // Abandoned: the session ends here (ASP.NET raises Session_End on Abandon for in-process sessions);
    // an undone move's copy was never a session of anyone's.
    else if (!options.undoneCopy) this.ended(id, record);
  }

  /** No live record: the marker's answer while it lasts. */
  private absent(id: string): SessionStateAbsent {
    return this.movedBy(id) !== undefined ? SESSION_MOVED : SESSION_ABSENT;
  }

  /** The lock id whose move left the id's marker, while it lasts. */
  private movedBy(id: string): string | undefined {
    if (this.movedMarkers.size === 0) return undefined;
    const marker = this.movedMarkers.get(id);
    return marker !== undefined && marker.until > this.now() ? marker.by : undefined;
  }

  override async revokeOwner(owner: string): Promise<number> {
    let removed = 0;
    for (const id of Array.from(this.byOwner.get(owner) ?? [])) {
      const record = this.records.get(id)!;
      this.delete(id, record);
      this.freeSlot(owner, id);
      // A request holding it finds its lock gone: its save is fenced out.
      if (this.expired(record)) continue;
      removed++;
      this.ended(id, record);
    }
    return removed;
  }

  /** Synchronous steps on one process's book: each is atomic as it stands. */
  override claimOwnerSlot(claim: OwnerSlotClaim): Promise<OwnerSlotAnswer> {
    const book: OwnerSlotBook = {
      clock: this.now,
      tryClaim: async (claim, dead, now) => {
        const { owner, id, replacing, max, pendingMs } = claim;
        let entries = this.slots.get(owner);
        // A new book starts with the sessions the owner already has (signed in before the cap): the oldest.
        if (!entries) this.slots.set(owner, (entries = new Map(Array.from(this.byOwner.get(owner) ?? [], (held) => [held, 0]))));
        this.slotsPendingMs.set(owner, pendingMs);
        let moves = this.slotMoves.get(owner);
        if (!moves) this.slotMoves.set(owner, (moves = new Map()));
        for (const [gone, at] of dead) if (entries.get(gone) === at) this.forgetSlot(entries, moves, gone);
        const book = { entries, moves };
        const others =
          entries.size -
          (entries.has(id) ? 1 : 0) -
          (replacing !== undefined && entries.has(replacing) ? 1 : 0) -
          movesUnderWay(book, claim, now).length;
        if (!entries.has(id) && others >= max) return { entries: new Map(entries), moves: new Map(moves) };
        entries.set(id, now);
        if (replacing !== undefined) moves.set(id, replacing);
        return true;
      },
      liveOf: async (owner, ids, absoluteMs) => {
        const owned = ids.filter((id) => this.live(id)?.owner === owner);
        const ended = new Set(owned.filter((id) => pastLifetime(this.records.get(id)!, absoluteMs, this.now())));
        const live = new Set<string>();
        const created = new Map<string, number>();
        for (const id of owned) {
          if (ended.has(id)) continue;
          live.add(id);
          const at = this.records.get(id)!.created;
          if (at !== undefined) created.set(id, at);
        }
        return { live, ended, created };
      },
      revoke: async (owner, ids) => {
        for (const id of ids) {
          const record = this.records.get(id);
          if (record?.owner !== owner) continue;
          this.delete(id, record);
          if (!this.expired(record)) this.ended(id, record);
        }
      },
    };
    return claimOwnerSlot(book, claim);
  }

  override async releaseOwnerSlot(owner: string, id: string, movedTo?: string): Promise<void> {
    const moves = this.slotMoves.get(owner);
    if (movedTo !== undefined && moves?.get(movedTo) === id) moves.delete(movedTo);
    this.freeSlot(owner, id);
  }

  private freeSlot(owner: string, id: string): void {
    const entries = this.slots.get(owner);
    if (!entries) return;
    this.forgetSlot(entries, this.slotMoves.get(owner), id);
    if (entries.size === 0) this.dropBook(owner);
  }

  /** An entry goes with the move it made (a move it was the old side of stays with its new entry: it no longer counts once). */
  private forgetSlot(entries: Map<string, number>, moves: Map<string, string> | undefined, id: string): void {
    entries.delete(id);
    moves?.delete(id);
  }

  private dropBook(owner: string): void {
    this.slots.delete(owner);
    this.slotMoves.delete(owner);
    this.slotsPendingMs.delete(owner);
  }

  /** The owner's map entry: no copy of the data, no scan of other sessions. */
  override async listOwnerSessions(owner: string): Promise<SessionStateOwnedSession[]> {
    const sessions: SessionStateOwnedSession[] = [];
    for (const id of this.byOwner.get(owner) ?? []) {
      const record = this.live(id);
      if (!record || record.uninitialized) continue;
      sessions.push(ownedSessionOf(id, record));
    }
    return sessions;
  }

  override async revokeItem(id: string, owner: string): Promise<boolean> {
    const record = this.live(id);
    if (!record || record.owner !== owner) return false;
    // A request holding it finds its lock gone: its save is fenced out.
    this.delete(id, record);
    this.freeSlot(owner, id);
    this.ended(id, record);
    return true;
  }

  async resetItemTimeout(id: string): Promise<void> {
    const record = this.live(id);
    if (record) record.expires = this.now() + record.timeout * 60_000;
  }

  override async createUninitializedItem(id: string, timeout: number): Promise<void> {
    const existing = this.records.get(id);
    if (existing && !this.expired(existing)) return;
    this.put(id, {
      items: '{}',
      timeout,
      expires: this.now() + timeout * 60_000,
      lockId: null,
      lockDate: 0,
      uninitialized: true,
      owner: undefined,
      created: undefined,
      client: undefined,
    });
  }

  override setItemExpireCallback(callback: SessionStateExpireCallback | undefined): boolean {
    this.expireCallback = callback;
    return true;
  }

  /**
   * Removes expired items that no live request holds, reporting each to the expire callback; and,
   * from the owners' books, the entries whose session is gone (no longer stored with that owner)
   * and whose save can no longer be under way, so a book lives only as long as its owner's sessions.
   */
  sweep(): void {
    for (const [id, record] of this.records) {
      if (!this.expired(record) || record.lockId !== null) continue;
      this.delete(id, record);
      this.ended(id, record);
    }
    const now = this.now();
    for (const [id, { until }] of this.movedMarkers) if (until <= now) this.movedMarkers.delete(id);
    for (const [owner, entries] of this.slots) {
      const pendingMs = this.slotsPendingMs.get(owner) ?? 0;
      for (const [id, at] of entries) {
        if (now - at >= pendingMs && this.records.get(id)?.owner !== owner) this.forgetSlot(entries, this.slotMoves.get(owner), id);
      }
      if (entries.size === 0) this.dropBook(owner);
    }
  }

  private put(id: string, record: InMemoryRecord): void {
    const previous = this.records.get(id);
    if (!previous && this.movedMarkers.size > 0) this.movedMarkers.delete(id);
    if (previous && previous.owner === record.owner) {
      // The common save: the record is updated in place (no Map deletion and insertion per request).
      Object.assign(previous, record);
      return;
    }
    if (previous) this.delete(id, previous);
    this.records.set(id, record);
    if (record.owner !== undefined) {
      let ids = this.byOwner.get(record.owner);
      if (!ids) this.byOwner.set(record.owner, (ids = new Set()));
      ids.add(id);
    }
  }

  private delete(id: string, record: InMemoryRecord): void {
    this.records.delete(id);
    if (record.owner === undefined) return;
    const ids = this.byOwner.get(record.owner);
    ids?.delete(id);
    if (ids?.size === 0) this.byOwner.delete(record.owner);
  }

  /** Reports the end of a session to the callback (an uninitialized item was never a session). */
  private ended(id: string, record: InMemoryRecord): void {
    if (record.uninitialized) return;
    this.expireCallback?.(id, itemOf(record));
  }

  /** Sweeps again after a `close()` (the module calls it when an application using the store starts). */
  init(): void {
    this.startSweeping();
  }

  /** Stops the sweep (the module calls it when the last application using the store shuts down). */
  close(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private live(id: string): InMemoryRecord | undefined {
    const record = this.records.get(id);
    return record && !this.expired(record) ? record : undefined;
  }

  private expired(record: InMemoryRecord): boolean {
    return record.expires <= this.now();
  }

  private locked(record: InMemoryRecord, lockId: string): SessionStateLocked {
    return { kind: 'locked', lockId, lockAge: Math.max(0, this.now() - record.lockDate), expires: record.expires };
  }

  /** Locks `record` under a new lock id, and answers that acquisition. */
  private acquired(record: InMemoryRecord): SessionStateAcquired {
    const lockId = (record.lockId = `${this.lockIdPrefix}${++this.lockSequence}`);
    return { kind: 'acquired', item: itemOf(record), lockId, actions: actionsOf(record), expires: record.expires };
  }

  /** Why a fenced write with `lockId` on `record` (as found) is refused. */
  private refusal(record: InMemoryRecord | undefined, lockId: string | null): SessionStateLockLostReason {
    return lockId !== null && (!record || this.expired(record)) ? 'item_gone' : 'lock_mismatch';
  }
}

/** An unlocked record of `item`, its expiry slid from `now`. */
function recordOf(item: SessionStateStoreData, now: number): InMemoryRecord {
  return {
    items: item.items,
    timeout: item.timeout,
    expires: now + item.timeout * 60_000,
    lockId: null,
    lockDate: now,
    uninitialized: false,
    owner: item.owner,
    created: item.created,
    client: item.client,
  };
}

/** Past `absoluteTimeout` (ms, when set) since it was created or moved: gone to every request. */
function pastLifetime(record: InMemoryRecord, absoluteMs: number | undefined, now: number): boolean {
  return absoluteMs !== undefined && record.created !== undefined && now - record.created >= absoluteMs;
}

function ownedSessionOf(id: string, record: InMemoryRecord): SessionStateOwnedSession {
  const session: { -readonly [K in keyof SessionStateOwnedSession]: SessionStateOwnedSession[K] } = {
    id,
    expires: record.expires,
    timeout: record.timeout,
  };
  if (record.created !== undefined) session.created = record.created;
  if (record.client !== undefined) session.client = record.client;
  return session;
}

/** The record's data, without the fields it does not have. */
function itemOf(record: InMemoryRecord): SessionStateStoreData {
  const item: { -readonly [K in keyof SessionStateStoreData]: SessionStateStoreData[K] } = { items: record.items, timeout: record.timeout };
  if (record.owner !== undefined) item.owner = record.owner;
  if (record.created !== undefined) item.created = record.created;
  if (record.client !== undefined) item.client = record.client;
  return item;
}

function actionsOf(record: InMemoryRecord): SessionStateActions {
  return record.uninitialized ? SessionStateActions.InitializeItem : SessionStateActions.None;
}

function lockLost(reason: SessionStateLockLostReason, consequence: string): SessionStateLockLostError {
  return new SessionStateLockLostError(`The session lock was lost (broken as stale, or the session was removed); ${consequence}.`, reason);
}
