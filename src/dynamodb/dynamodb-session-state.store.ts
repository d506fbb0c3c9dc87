import { GetItemCommand, PutItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@nestjs/common';
import { SessionStateCorruptError, SessionStateLockLostError, type SessionStateLockLostReason } from '../errors/session-state.errors.js';
import type { ConsumedCapacityReport, ReportsConsumedCapacity } from '../observability/consumed-capacity.js';
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
  type SessionStateLoaded,
  type SessionStateLocked,
  type SessionStateOwnedSession,
  type SessionStateRead,
  type SessionStateStoreData,
  type SessionStateStoreHealth,
} from '../store/session-state-store.js';
import { boundedCalls, type BoundedCall } from './bounded-call.js';
import { countConsumedCapacity } from './dynamodb-consumed-capacity.middleware.js';
import { isConditionFailure, mayHaveLanded } from './dynamodb-errors.js';
import { deleteOwned, revokeOwnerSessions } from './dynamodb-owner-index.js';
import { listOwnerSessions } from './dynamodb-owner-sessions.js';
import { claimOwnerSlotOnDynamoDB, releaseOwnerSlotOnDynamoDB, releaseOwnerSlotsOnDynamoDB, type OwnerSlotSettings } from './dynamodb-owner-slots.js';
import type { OwnerSlotAnswer, OwnerSlotClaim } from '../store/owner-slots.js';
import {
  Attr,
  DATA_ITEM_RECORD_VERSION,
  expiry,
  FLAG_UNINITIALIZED,
  INLINE_RECORD_VERSION,
  num,
  readRecord,
  ttlBase,
  unlockedRecord,
  type DynamoDBItem,
  type SessionRecord,
} from './dynamodb-session-record.js';
import type { DynamoDBSessionStateStoreOptions } from './dynamodb-session-state-store.options.js';
import { prepareSessionTable } from './dynamodb-session-table.js';
import { buildClient, storeSettings } from './dynamodb-store-settings.js';
import { DynamoDBTableHealth } from './dynamodb-table-health.js';
import { FencedWrites, type FencedWrite } from './fenced-writes.js';
import { lockCommand, lockEnd } from './lock-commands.js';
import { newLockId } from './lock-id.js';
import { RecordAddress, SLIDE_EXPIRY, SLIDE_EXPIRY_NAMES, updateExpression } from './record-expressions.js';
import { DATA_TTL_MARGIN_SECONDS, dataKey } from './session-data-item.js';
import { DataTtlBook, dataTtlDue, extendDataItemTtl, type DataItemTtlSettings } from './data-item-ttl.js';
import { layOutSession } from './session-layout.js';
import { corruptRecord, type SessionItemsCodec } from './session-items-codec.js';
import { settleUnansweredLock, type UnansweredLockSettings } from './unanswered-lock.js';
import { attemptsOf, newWriteToken, PruneBook, wroteOrUnknown, type WriteClauses } from './write-tokens.js';

/**
 * The production store: sessions in a DynamoDB table. Each session has a lock item under 1 KB
 * (lock, expiry, and the items when they fit), and larger items live in an immutable data item
 * beside it (see `session-data-item.ts`), so lock operations cost 1 WCU whatever the session's
 * size. Locks are taken and released with conditional writes fenced by the lock id, so a request
 * whose lock was broken can never overwrite newer data, and a contended lock costs one call that
 * reports the holder. Expired items read as absent (TTL deletion lags by hours). A write whose
 * answer was lost recognises its own earlier attempt, and a lock call that got no answer is settled
 * before the caller is told.
 *
 * Call `init()` once before use (the module does, when an application using the store starts): it checks, or creates, the table.
 */
export class DynamoDBSessionStateStore extends SessionStateStore implements ReportsConsumedCapacity {
  readonly tableName: string;
  readonly client: DynamoDBClient;
  private readonly logger = new Logger(DynamoDBSessionStateStore.name);
  private readonly ownsClient: boolean;
  private readonly application: string | undefined;
  private readonly createIfNotExists: boolean;
  private readonly keyAttribute: string;
  private readonly ttlAttribute: string;
  private readonly ttlExtraSeconds: number;
  private readonly consistentReads: boolean;
  private readonly codec: SessionItemsCodec;
  private readonly maxItemBytes: number;
  private readonly clock: () => number;
  private readonly call: BoundedCall;
  /** `init()`'s calls (table check, creation): an endpoint that is not DynamoDB is a configuration error there. */
  private readonly startupCall: BoundedCall;
  private readonly address: RecordAddress;
  /** By lock id: what the holder's first write removes (learnt from the lock call's answer). */
  private readonly prunes: PruneBook;
  private readonly writes: FencedWrites;
  private readonly unansweredLocks: UnansweredLockSettings;
  private readonly dataItems: DataItemTtlSettings;
  /** By lock id: the TTL of the session's data item, carried along unchanged hand-overs. */
  private readonly dataTtls = new DataTtlBook();
  private readonly health: DynamoDBTableHealth;
  private ready: Promise<void> | undefined;
  private destroyed = false;

  /** Moved sessions' markers, with the move's lock id (see `removeItem`). */
  override get keepsMovedMarkers(): boolean {
    return true;
  }

  constructor(options: DynamoDBSessionStateStoreOptions = {}) {
    super();
    const settings = storeSettings(options);
    ({
      tableName: this.tableName,
      application: this.application,
      createIfNotExists: this.createIfNotExists,
      keyAttribute: this.keyAttribute,
      ttlAttribute: this.ttlAttribute,
      ttlExtraSeconds: this.ttlExtraSeconds,
      consistentReads: this.consistentReads,
      codec: this.codec,
      maxItemBytes: this.maxItemBytes,
      clock: this.clock,
    } = settings);
    this.ownsClient = !options.client;
    this.client = options.client ?? buildClient(options, settings.requestTimeoutMs);
    this.call = boundedCalls(this.tableName, settings.requestTimeoutMs);
    this.startupCall = boundedCalls(this.tableName, settings.requestTimeoutMs, 'startup');
    this.address = new RecordAddress(this.keyAttribute, this.ttlAttribute, this.application, this.ttlExtraSeconds);
    this.prunes = new PruneBook(settings.requestTimeoutMs);
    this.writes = new FencedWrites(this.client, this.call, this.tableName, this.prunes, this.logger, this.clock);
    const { client, call, tableName, address, logger } = this;
    const release = (id: string, lockId: string) => this.releaseItemExclusive(id, lockId);
    this.unansweredLocks = { client, call, tableName, address, logger, release, closed: () => this.destroyed };
    this.dataItems = { client, call, tableName, address, logger };
    this.health = new DynamoDBTableHealth(this.client, this.call, this.tableName, this.clock);
  }

  /**
   * Checks the table (one `DescribeTable`), or creates it with `createIfNotExists`. Idempotent;
   * a failed attempt can be retried. Runs at startup, never on the request path. After `destroy()`
   * it makes the store usable again (the SDK client makes new connections on demand).
   */
  init(): Promise<void> {
    this.destroyed = false;
    this.ready ??= prepareSessionTable({
      client: this.client,
      call: this.startupCall,
      logger: this.logger,
      tableName: this.tableName,
      keyAttribute: this.keyAttribute,
      ttlAttribute: this.ttlAttribute,
      createIfNotExists: this.createIfNotExists,
    }).catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  /** What the module calls when the last application using the store shuts down: `destroy()`. */
  close(): void {
    this.destroy();
  }

  /**
   * Destroys the client if the store built it (a client passed in belongs to the caller), now,
   * whoever still uses the store; the module calls it (`close`) when the last application using it shuts down.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.ready = undefined;
    if (this.ownsClient) this.client.destroy();
  }

  async getItem(id: string): Promise<SessionStateRead> {
    const now = this.clock();
    const record = await this.readLockItem(id);
    if (!record || record.expires <= now) return absentAnswer(record, now);
    if (record.locked) return lockedAnswer(record, now);
    const { item, actions, expires } = await this.loaded(id, record, null, now);
    return { kind: 'loaded', item, actions, expires };
  }

  /** The lock item only: a poll costs one small read, never the session's data item. */
  override async probeLock(id: string): Promise<SessionStateLocked | null> {
    const now = this.clock();
    const record = await this.readLockItem(id);
    return record && record.expires > now && record.locked ? lockedAnswer(record, now) : null;
  }

  private async readLockItem(id: string): Promise<SessionRecord | undefined> {
    const get = new GetItemCommand({ TableName: this.tableName, Key: this.address.key(id), ConsistentRead: this.consistentReads });
    const { Item } = await this.call('GetItem', (options) => this.client.send(get, options));
    return Item ? readRecord(Item) : undefined;
  }

  async getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    const now = this.clock();
    const lockId = newLockId(now);
    const lock = lockCommand(this.tableName, this.address, id, lockId, now);
    let record: SessionRecord;
    try {
      const { Attributes } = await this.call('UpdateItem', (options) => this.client.send(lock, options));
      try {
        if (!Attributes) throw corruptRecord('DynamoDB returned no attributes for a locked record');
        record = readRecord(Attributes);
      } catch (error) {
        // We hold the lock of a record we cannot read: hand its id over so the caller can release it.
        if (error instanceof SessionStateCorruptError) error.lockId = lockId;
        throw error;
      }
    } catch (error) {
      if (!isConditionFailure(error)) {
        // No answer (timeout, network, throttling through every retry): the lock may still land.
        // Settle that before giving up on it. Any other error means DynamoDB did not apply it.
        if (mayHaveLanded(error)) await settleUnansweredLock(this.unansweredLocks, id, lockId);
        throw error;
      }
      if (!error.Item) return SESSION_ABSENT;
      const holder = readRecord(error.Item);
      if (holder.expires <= now) return absentAnswer(holder, now);
      // Our own first attempt took the lock but its answer was lost; the SDK's retry then failed.
      if (holder.locked && holder.lockId === lockId) return this.loadedUnderLock(id, holder, lockId, now);
      if (holder.locked) return lockedAnswer(holder, now);
      throw corruptRecord('its lock, expiry or timeout attributes have unexpected types');
    }
    this.prunes.remember(lockId, record, now);
    // ALL_OLD holds the expiry from before the lock slid it; answer the slid one.
    return { ...(await this.loadedUnderLock(id, record, lockId, now)), expires: expiry(now, record.timeout, this.ttlExtraSeconds).expires };
  }

  /**
   * `loaded` for a lock just taken. Reading a data item can fail after the lock was taken: a corrupt
   * record carries the lock id for the caller to release; any other failure releases it here.
   */
  private async loadedUnderLock(id: string, record: SessionRecord, lockId: string, now: number): Promise<SessionStateAcquired> {
    try {
      return { kind: 'acquired', lockId, ...(await this.loaded(id, record, lockId, now)) };
    } catch (error) {
      if (!(error instanceof SessionStateCorruptError)) await this.releaseItemExclusive(id, lockId).catch(() => false);
      throw error;
    }
  }

  async setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    await this.commit(id, item, lockId, newItem, undefined);
  }

  /**
   * A mid-request save: one write (two for a session kept in a data item), as
   * `setAndReleaseItemExclusive`, fenced the same way (write tokens, lost answers), except that the
   * lock stays held: under `lockId`, or for a new item under a new lock id, which it answers.
   */
  override async setItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<string> {
    if (newItem) {
      const next = newLockId(this.clock());
      await this.commit(id, item, null, true, next);
      return next;
    }
    if (lockId === null) throw lockLost('lock_mismatch', 'the changes of this request were not saved');
    await this.commit(id, item, lockId, false, lockId);
    return lockId;
  }

  /**
   * One write (two for a session kept in a data item: the data, then the lock item), as
   * `setAndReleaseItemExclusive` or `releaseItemExclusive`, except that the lock item is locked
   * again under a new lock id instead of unlocked. Costs what the save or the release costs: the
   * next request's lock write is saved.
   */
  override async handOverItemExclusive(id: string, item: SessionStateStoreData, lockId: string, changed: boolean): Promise<SessionStateAcquisition> {
    const now = this.clock();
    const next = newLockId(now);
    let answer: FencedWrite;
    // Whether the write that hands the lock over was sent (a changed one writes its data item first).
    const sent = { update: !changed };
    try {
      answer = changed ? { written: await this.commit(id, item, lockId, false, next, sent) } : await this.unlock(id, lockId, next);
    } catch (error) {
      // No answer: like a lock call, the hand-over may still land. Revoke the new lock id (a late
      // arrival then fails its condition) and release it if it landed, before giving up. If it had
      // landed, the save (or release) is done: that is the answer, with nothing handed over. A
      // hand-over that was never sent (its data item's PutItem failed) cannot land: nothing to settle.
      if (sent.update && mayHaveLanded(error) && (await settleUnansweredLock(this.unansweredLocks, id, next))) return SESSION_ABSENT;
      throw error;
    }
    if ('refused' in answer) throw lockLost(answer.refused, 'it could not be handed over');
    if (!changed) await this.carryDataTtl(id, lockId, next, answer.written, expiry(now, item.timeout, this.ttlExtraSeconds).ttl);
    // What the new holder's first write prunes (write tokens and aborted locks past their time).
    if (answer.written) this.prunes.remember(next, readRecord(answer.written), now);
    return {
      kind: 'acquired',
      item: storeDataOf(item.items, item),
      lockId: next,
      actions: SessionStateActions.None,
      expires: expiry(now, item.timeout, this.ttlExtraSeconds).expires,
    };
  }

  /**
   * An unchanged hand-over slid the session (to `sessionTtl`) without reading its data item: the
   * next holder is told the data item's TTL, extended first when the session could soon outlive it
   * (as a load does; at most once per 12 h of a chain of hand-overs, unless the TTL was not known).
   */
  private async carryDataTtl(id: string, lockId: string, next: string, written: DynamoDBItem | undefined, sessionTtl: number): Promise<void> {
    let ttl = this.dataTtls.take(lockId);
    // Inline, or the answer was lost (a retry showed the hand-over applied): the next load learns it.
    const dataId = written?.[Attr.dataId]?.S;
    if (dataId === undefined) return;
    if (dataTtlDue(ttl, sessionTtl)) ttl = (await extendDataItemTtl(this.dataItems, id, dataId, sessionTtl)) ?? ttl;
    this.dataTtls.remember(next, ttl);
  }

  /**
   * Saves `item`: unlocked, or with `next`, locked again under that lock id (kept, when `next` is
   * `lockId`; a new item is created locked under `next`). Answers the record as
   * written when the write's answer carried it (undefined when only a retry showed it applied).
   */
  private async commit(
    id: string,
    item: SessionStateStoreData,
    lockId: string | null,
    newItem: boolean,
    next: string | undefined,
    sent: { update: boolean } = { update: false },
  ): Promise<DynamoDBItem | undefined> {
    if (!newItem && lockId === null) throw lockLost('lock_mismatch', 'the changes of this request were not saved');
    const now = this.clock();
    const items = await this.codec.encode(item.items);
    const slide = expiry(now, item.timeout, this.ttlExtraSeconds);
    // Fresh per call: a retry of this very write finds it in the record; a second call does not.
    const writeToken = newWriteToken();
    const fields = {
      keyAttribute: this.keyAttribute,
      key: this.address.keyValue(id),
      ttlAttribute: this.ttlAttribute,
      timeout: item.timeout,
      expiry: slide,
      now,
      flags: 0,
      writeToken,
      owner: item.owner,
      created: item.created,
      client: item.client,
    };
    // Checked before any write (too large: the stored session stays as it was).
    // The revoked lock ids the lock item keeps count too (learnt from the lock call's answer).
    const laidOut = layOutSession(fields, items, this.maxItemBytes, lockId === null ? 0 : this.prunes.keptAbortedBytes(lockId));
    const { data, dataId } = laidOut;
    // A new item saved mid-request is created under the caller's new lock.
    const record =
      newItem && next !== undefined
        ? { ...laidOut.record, [Attr.locked]: { BOOL: true }, [Attr.lockId]: { S: next }, [Attr.lockDate]: num(now) }
        : laidOut.record;

    // The new data goes to a key no record references yet; only the fenced write below makes it the
    // session's. A holder whose lock was broken writes an orphan at most (TTL deletes it).
    if (data) {
      const put = new PutItemCommand({ TableName: this.tableName, Item: data });
      await this.call('PutItem', (options) => this.client.send(put, options));
    }
    if (newItem) {
      const { written, old, attempts } = await this.putIfAbsent(record, now);
      if (!written && !wroteOrUnknown(old, writeToken, attempts ?? 1, 'PutItem', this.tableName)) {
        throw new SessionStateLockLostError('A session with this id already exists; the new session was not written.', 'item_exists');
      }
      return undefined;
    }
    const end = lockEnd(this.address, lockId!, next, now);
    const set = [
      dataId === undefined ? '#items = :items' : '#dataId = :dataId',
      end.set,
      '#expires = :expires, #flags = :zero, #timeout = :timeout, #timeoutMs = :timeoutMs',
      '#timeoutSeconds = :timeoutSeconds, #version = :version, #ttl = :ttl',
      ...(item.owner === undefined ? [] : ['#owner = :owner']),
      ...(item.created === undefined ? [] : ['#created = :created']),
      ...(item.client === undefined ? [] : ['#client = :client']),
    ];
    const remove = [
      ...end.remove,
      dataId === undefined ? '#dataId' : '#items',
      ...(item.owner === undefined ? ['#owner'] : []),
      ...(item.created === undefined ? ['#created'] : []),
      ...(item.client === undefined ? ['#client'] : []),
    ];
    const update = (write: WriteClauses) =>
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.address.key(id),
        UpdateExpression: updateExpression([...set, ...write.set], [...remove, ...write.remove], write.delete),
        ConditionExpression: end.condition,
        ExpressionAttributeNames: {
          ...this.address.names(
            ...([
              'items',
              'dataId',
              'expires',
              'flags',
              'timeout',
              'timeoutMs',
              'timeoutSeconds',
              'version',
              'ttl',
              'owner',
              'created',
              'client',
            ] as const),
          ),
          ...end.names,
          ...write.names,
        },
        ExpressionAttributeValues: {
          ...write.values,
          ...end.values,
          ...(dataId === undefined ? { ':items': items } : { ':dataId': { S: dataId } }),
          ':expires': num(slide.expires),
          ':zero': num(0),
          ':timeout': num(item.timeout),
          ':timeoutMs': num(slide.timeoutMs),
          ':timeoutSeconds': num(slide.timeoutSeconds),
          ':version': num(dataId === undefined ? INLINE_RECORD_VERSION : DATA_ITEM_RECORD_VERSION),
          ':ttl': num(slide.ttl),
          ...(item.owner === undefined ? {} : { ':owner': { S: item.owner } }),
          ...(item.created === undefined ? {} : { ':created': num(item.created) }),
          ...(item.client === undefined ? {} : { ':client': { S: item.client } }),
        },
        ...end.returnValues,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
    sent.update = true;
    const answer = await this.writes.update(lockId!, writeToken, update);
    if ('refused' in answer) throw lockLost(answer.refused, 'the changes of this request were not saved');
    this.dataTtls.take(lockId!);
    if (next !== undefined && data) this.dataTtls.remember(next, slide.ttl + DATA_TTL_MARGIN_SECONDS);
    return answer.written;
  }

  async releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    this.dataTtls.take(lockId);
    return !('refused' in (await this.unlock(id, lockId, undefined)));
  }

  /**
   * Releases the lock and slides the expiry (with `next`: locks it again under that id instead).
   * Answers why when `lockId` no longer held it, else the record as written when the answer
   * carried it.
   */
  private async unlock(id: string, lockId: string, next: string | undefined): Promise<FencedWrite> {
    const now = this.clock();
    const writeToken = newWriteToken();
    const end = lockEnd(this.address, lockId, next, now);
    const update = (write: WriteClauses) =>
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.address.key(id),
        UpdateExpression: updateExpression([`${end.set}, ${SLIDE_EXPIRY}`, ...write.set], [...end.remove, ...write.remove], write.delete),
        ConditionExpression: end.condition,
        ExpressionAttributeNames: { ...this.address.names(...SLIDE_EXPIRY_NAMES), ...end.names, ...write.names },
        ExpressionAttributeValues: { ...end.values, ...this.address.slideValues(now), ...write.values },
        ...end.returnValues,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
    return this.writes.update(lockId, writeToken, update);
  }

  /**
   * Abandons the session: its record becomes an expired, unlocked stub (read as absent, replaced by
   * the next new session of that id, deleted by TTL) rather than being deleted, so a retried removal
   * finds its own token in it. Costs the same as a delete. The data item, if any, is left to its TTL.
   * Moved (a login): the stub is also the marker (`MovedUntil` and the move's lock id, `MovedBy`, in
   * the same write; its TTL pushed past it), read as `SESSION_MOVED` for `MOVED_MARKER_MS`. A move's
   * removal run again under its lock id while its marker lasts finds its own marker: it is written
   * again (the same stub), and answered done.
   */
  async removeItem(id: string, lockId: string, options?: RemoveItemOptions): Promise<void> {
    const now = this.clock();
    const writeToken = newWriteToken();
    // A move leaves its marker (an undone move's copy is removed without `moved`: none).
    const marker = options?.moved === true;
    const update = (write: WriteClauses) =>
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.address.key(id),
        UpdateExpression: updateExpression(
          [
            marker
              ? '#locked = :false, #expires = :zero, #ttl = :ttl, #movedUntil = :movedUntil, #movedBy = :lockId'
              : '#locked = :false, #expires = :zero, #ttl = :ttl',
            ...write.set,
          ],
          ['#lockId, #items, #dataId, #owner, #created, #client', ...write.remove],
          write.delete,
        ),
        ConditionExpression: marker ? '#lockId = :lockId OR (#movedBy = :lockId AND #movedUntil > :now)' : '#lockId = :lockId',
        ExpressionAttributeNames: {
          ...this.address.names(
            'locked',
            'expires',
            'ttl',
            'lockId',
            'items',
            'dataId',
            'owner',
            'created',
            'client',
            ...(marker ? (['movedUntil', 'movedBy'] as const) : []),
          ),
          ...write.names,
        },
        ExpressionAttributeValues: {
          ':false': { BOOL: false },
          ':zero': num(0),
          ':ttl': num(ttlBase(marker ? now + MOVED_MARKER_MS : now, this.ttlExtraSeconds)),
          ':lockId': { S: lockId },
          ...(marker ? { ':movedUntil': num(now + MOVED_MARKER_MS), ':now': num(now) } : {}),
          ...write.values,
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
    const answer = await this.writes.update(lockId, writeToken, update);
    if ('refused' in answer) throw lockLost(answer.refused, 'the session was not removed');
  }

  async resetItemTimeout(id: string): Promise<void> {
    const now = this.clock();
    const update = new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.address.key(id),
      UpdateExpression: `SET ${SLIDE_EXPIRY}`,
      ConditionExpression: 'attribute_exists(#key) AND #expires > :now',
      ExpressionAttributeNames: this.address.names('key', ...SLIDE_EXPIRY_NAMES),
      ExpressionAttributeValues: this.address.slideValues(now),
    });
    // Absent or expired: the condition fails, nothing is slid and nothing is created.
    await this.writes.conditional('UpdateItem', (options) => this.client.send(update, options));
  }

  override async createUninitializedItem(id: string, timeout: number): Promise<void> {
    const now = this.clock();
    // An existing item is kept as it is: the put's condition fails, and that is fine.
    await this.putIfAbsent(
      unlockedRecord({
        keyAttribute: this.keyAttribute,
        key: this.address.keyValue(id),
        ttlAttribute: this.ttlAttribute,
        data: { items: { S: '{}' } },
        timeout,
        expiry: expiry(now, timeout, this.ttlExtraSeconds),
        now,
        flags: FLAG_UNINITIALIZED,
      }),
      now,
    );
  }

  /** Sign out everywhere: see `dynamodb-owner-index.ts` (a Query of the `Owner-index`, then a DeleteItem per session). */
  override async revokeOwner(owner: string): Promise<number> {
    const removed: string[] = [];
    const prefixLength = this.address.keyValue('').length;
    const count = await revokeOwnerSessions(this.ownerSettings(), owner, (key) => removed.push(key.slice(prefixLength)));
    // Their places in maxSessionsPerOwner's book are free at once (one UpdateItem per 50).
    if (removed.length > 0) await releaseOwnerSlotsOnDynamoDB(this.ownerSlots(), owner, removed);
    return count;
  }

  /** A user's sessions: see `dynamodb-owner-sessions.ts` (a Query of the `Owner-index`, then a BatchGetItem per 100 sessions). */
  override listOwnerSessions(owner: string): Promise<SessionStateOwnedSession[]> {
    return listOwnerSessions(this.ownerSettings(), owner);
  }

  /** Sign out one session: a DeleteItem conditional on its owner (and on being live). */
  override async revokeItem(id: string, owner: string): Promise<boolean> {
    const removed = await deleteOwned(this.ownerSettings(), this.address.key(id)[this.keyAttribute]!, owner, this.clock());
    // Its place in maxSessionsPerOwner's book is free at once (one UpdateItem).
    if (removed) await releaseOwnerSlotOnDynamoDB(this.ownerSlots(), owner, id);
    return removed;
  }

  private ownerSettings() {
    const keyPrefix = this.application === undefined ? undefined : this.address.keyValue('');
    return { client: this.client, call: this.call, tableName: this.tableName, keyAttribute: this.keyAttribute, keyPrefix, now: this.clock() };
  }

  /** maxSessionsPerOwner: see `dynamodb-owner-slots.ts` (the owner's book, an item changed by conditional writes). */
  override claimOwnerSlot(claim: OwnerSlotClaim): Promise<OwnerSlotAnswer> {
    return claimOwnerSlotOnDynamoDB(this.ownerSlots(), claim);
  }

  override releaseOwnerSlot(owner: string, id: string, movedTo?: string): Promise<void> {
    return releaseOwnerSlotOnDynamoDB(this.ownerSlots(), owner, id, movedTo);
  }

  private ownerSlots(): OwnerSlotSettings {
    const keyPrefix = this.application === undefined ? undefined : this.address.keyValue('');
    return {
      client: this.client,
      call: this.call,
      tableName: this.tableName,
      address: this.address,
      keyPrefix,
      clock: this.clock,
      ttlAttribute: this.ttlAttribute,
      ttlExtraSeconds: this.ttlExtraSeconds,
    };
  }

  /** Asks DynamoDB for the capacity each call on the table consumes (see `dynamodb-consumed-capacity.middleware.ts`). */
  reportConsumedCapacity(report: ConsumedCapacityReport): () => void {
    return countConsumedCapacity(this.client, this.tableName, report);
  }

  /** The table is reachable and ACTIVE (one cached DescribeTable: see `dynamodb-table-health.ts`). */
  override checkHealth(): Promise<SessionStateStoreHealth> {
    return this.health.check();
  }

  /** Puts a whole record unless a live one exists (an expired leftover is replaced). */
  private async putIfAbsent(record: DynamoDBItem, now: number): Promise<{ written: boolean; old?: DynamoDBItem; attempts?: number }> {
    const put = new PutItemCommand({
      TableName: this.tableName,
      Item: record,
      ConditionExpression: 'attribute_not_exists(#key) OR #expires <= :now',
      ExpressionAttributeNames: this.address.names('key', 'expires'),
      ExpressionAttributeValues: { ':now': num(now) },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    try {
      await this.call('PutItem', (options) => this.client.send(put, options));
      return { written: true };
    } catch (error) {
      if (isConditionFailure(error)) return { written: false, old: error.Item, attempts: attemptsOf(error) };
      throw error;
    }
  }

  private async loaded(id: string, record: SessionRecord, lockId: string | null, now: number): Promise<Omit<SessionStateLoaded, 'kind'>> {
    let items: string;
    try {
      // As on Redis: a Timeout of 0 or less loaded, and a write to it answered 200 was saved expiring at once.
      if (!(Number.isFinite(record.timeout) && record.timeout > 0)) throw corruptRecord('it has no readable timeout');
      items = await this.codec.decode(record.dataId === null ? record.items : await this.readData(id, record, lockId, now));
    } catch (error) {
      if (error instanceof SessionStateCorruptError) error.lockId = lockId;
      throw error;
    }
    return {
      item: storeDataOf(items, record),
      actions: actions(record),
      expires: record.expires,
    };
  }

  /**
   * The encoded items of a record kept in a data item. Eventually consistent first (half the
   * units; safe because a data item never changes), consistent when not found yet (a commit just
   * wrote it). Extends the data item's TTL when the session could soon outlive it (best effort:
   * a failure is logged, the load goes on).
   */
  private async readData(id: string, record: SessionRecord, lockId: string | null, now: number): Promise<AttributeValue | undefined> {
    const key = { [this.keyAttribute]: { S: dataKey(this.address.keyValue(id), record.dataId!) } };
    const read = async (consistent: boolean) => {
      const get = new GetItemCommand({ TableName: this.tableName, Key: key, ConsistentRead: consistent });
      return (await this.call('GetItem', (options) => this.client.send(get, options))).Item;
    };
    const data = (await read(false)) ?? (await read(true));
    if (!data) throw corruptRecord('its data item is missing');
    const sessionTtl = expiry(now, record.timeout, this.ttlExtraSeconds).ttl;
    const dataTtl = Number(data[this.ttlAttribute]?.N ?? 0);
    const known = dataTtlDue(dataTtl, sessionTtl) ? ((await extendDataItemTtl(this.dataItems, id, record.dataId!, sessionTtl)) ?? dataTtl) : dataTtl;
    // For the holder's unchanged hand-over, which slides the session without this read.
    if (lockId !== null) this.dataTtls.remember(lockId, known);
    return data[Attr.items];
  }
}

/** `items` with the record's (or item's) timeout, and its owner, creation and client where it has them. */
function storeDataOf(
  items: string,
  source: { timeout: number; owner?: string | undefined; created?: number | undefined; client?: string | undefined },
): SessionStateStoreData {
  const item: { -readonly [K in keyof SessionStateStoreData]: SessionStateStoreData[K] } = { items, timeout: source.timeout };
  if (source.owner !== undefined) item.owner = source.owner;
  if (source.created !== undefined) item.created = source.created;
  if (source.client !== undefined) item.client = source.client;
  return item;
}

function lockLost(reason: SessionStateLockLostReason, consequence: string): SessionStateLockLostError {
  return new SessionStateLockLostError(`The session lock was lost (broken as stale, or the session was removed); ${consequence}.`, reason);
}

function actions(record: SessionRecord): SessionStateActions {
  return record.flags & FLAG_UNINITIALIZED ? SessionStateActions.InitializeItem : SessionStateActions.None;
}

/** No live record: a moved session's marker while it lasts (see `removeItem`), else plain absent. */
function absentAnswer(record: SessionRecord | undefined, now: number): SessionStateAbsent {
  return record !== undefined && record.movedUntil > now ? SESSION_MOVED : SESSION_ABSENT;
}

/** The answer for a session another request holds: its lock, no data. */
function lockedAnswer(record: SessionRecord, now: number): SessionStateLocked {
  // This store always writes both; a lock nobody can name could never be broken when stale.
  if (record.lockId === null) throw corruptRecord('it is locked without a lock id');
  return { kind: 'locked', lockId: record.lockId, lockAge: lockAge(record, now), expires: record.expires };
}

function lockAge(record: SessionRecord, now: number): number {
  return Math.max(0, now - record.lockDate);
}
