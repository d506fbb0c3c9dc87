import { randomBytes, randomUUID } from 'node:crypto';
import {
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  SessionStateCorruptError,
  SessionStateLockLostError,
  SessionStateStoreUnavailableError,
  SessionStateTooLargeError,
  type SessionStateLockLostReason,
} from '../errors/session-state.errors.js';
import {
  SESSION_ABSENT,
  SessionStateActions,
  SessionStateStore,
  type SessionStateAcquired,
  type SessionStateAcquisition,
  type SessionStateLoaded,
  type SessionStateLocked,
  type SessionStateRead,
  type SessionStateStoreData,
  type SessionStateStoreHealth,
} from '../store/session-state-store.js';
import { awsErrorName, isConditionFailure, mayHaveLanded, toStoreError } from './dynamodb-errors.js';
import {
  Attr,
  DATA_ITEM_RECORD_VERSION,
  estimateItemBytes,
  expiry,
  FLAG_UNINITIALIZED,
  INLINE_RECORD_VERSION,
  num,
  readRecord,
  ttlBase,
  unlockedRecord,
  LEGACY_WRITE_PREFIX,
  readWriteTokens,
  WRITE_SLOT_NAMES,
  type DynamoDBItem,
  type SessionRecord,
} from './dynamodb-session-record.js';
import { newLockId, lockIdTime } from './lock-id.js';
import {
  DATA_TTL_MARGIN_SECONDS,
  DATA_TTL_REFRESH_AHEAD_SECONDS,
  dataItem,
  dataKey,
  INLINE_MAX_BYTES,
  RECENT_WRITES_ALLOWANCE_BYTES,
} from './session-data-item.js';
import type { DynamoDBSessionStateStoreOptions } from './dynamodb-session-state-store.options.js';
import { prepareSessionTable } from './dynamodb-session-table.js';
import { corruptRecord, SessionItemsCodec } from './session-items-codec.js';
import { revokeOwnerSessions } from './dynamodb-owner-index.js';
import { redactSecrets } from '../observability/store-failure-log.js';
import { DynamoDBTableHealth } from './dynamodb-table-health.js';
import { countConsumedCapacity } from './dynamodb-consumed-capacity.middleware.js';
import type { ConsumedCapacityReport, ReportsConsumedCapacity } from '../observability/consumed-capacity.js';

/** DynamoDB's hard limit on the size of one item. */
const DYNAMODB_ITEM_LIMIT = 409_600;

/**
 * How long a revoked lock id is kept in `AbortedLocks`: well past the point where DynamoDB refuses
 * the call it revokes (SigV4 signatures expire within minutes; the SDK re-signs each retry, all
 * within `requestTimeoutMs` of the id's creation).
 */
const ABORTED_LOCK_KEEP_MS = 20 * 60_000;

/**
 * Slides a record's expiry and TTL by its own timeout, in one update: `TimeoutMs`/`TimeoutSeconds`
 * are stored because update expressions add but cannot multiply. A record written without them
 * (not by this store) slides by ASP.NET's default, 20 minutes.
 */
const SLIDE_EXPIRY =
  '#expires = :now + if_not_exists(#timeoutMs, :defaultTimeoutMs), #ttl = :ttlBase + if_not_exists(#timeoutSeconds, :defaultTimeoutSeconds)';
const SLIDE_EXPIRY_NAMES = ['expires', 'timeoutMs', 'ttl', 'timeoutSeconds'] as const;

/** Expression placeholders of the record's attributes; each command declares only those it uses. */
const PLACEHOLDERS = {
  key: '#key',
  ttl: '#ttl',
  items: '#items',
  locked: '#locked',
  lockId: '#lockId',
  lockDate: '#lockDate',
  expires: '#expires',
  flags: '#flags',
  timeout: '#timeout',
  timeoutMs: '#timeoutMs',
  timeoutSeconds: '#timeoutSeconds',
  version: '#version',
  dataId: '#dataId',
  abortedLocks: '#abortedLocks',
  owner: '#owner',
} as const;
type Placeholder = keyof typeof PLACEHOLDERS;

/**
 * How long an earlier build's write token (see `LEGACY_WRITE_PREFIX`) is kept beyond `requestTimeoutMs`, the
 * longest the SDK can retry its write (an instance still running such a build may be waiting for it): a
 * margin for clocks of instances that disagree.
 */
const WRITE_TOKEN_MARGIN_MS = 10_000;

/**
 * Most of those write tokens one write removes: its `REMOVE` clause stays far below DynamoDB's 4 KB
 * expression limit however many a record carries (those builds removed them all at once, which failed past
 * about 270 and then failed again at every write). A record with more heals over several writes.
 */
const LEGACY_WRITES_PRUNED_PER_WRITE = 100;

/** Most locks whose prunes (`Prune`) this store remembers; a forgotten one only delays a prune. */
const MAX_REMEMBERED_PRUNES = 1_000;

/** What the first write under a lock removes: earlier builds' write tokens and revocations past their time. */
interface Prune {
  readonly writes: readonly string[];
  readonly aborted: readonly string[];
}

/** What `call` passes to `client.send`. */
interface SendOptions {
  abortSignal: AbortSignal;
}

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
 * Call `init()` once before use (Nest does, through `onModuleInit`): it checks, or creates, the table.
 */
export class DynamoDBSessionStateStore extends SessionStateStore implements OnModuleInit, OnApplicationShutdown, ReportsConsumedCapacity {
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
  private readonly requestTimeoutMs: number;
  private readonly clock: () => number;
  private readonly health: DynamoDBTableHealth;
  private ready: Promise<void> | undefined;
  /** By lock id: what the holder's write removes (learnt from the lock call's answer). */
  private readonly prunes = new Map<string, Prune>();
  private destroyed = false;

  constructor(options: DynamoDBSessionStateStoreOptions = {}) {
    super();
    this.tableName = nonEmpty('tableName', options.tableName ?? 'nestjs-session-state');
    this.application = options.application || undefined;
    this.createIfNotExists = options.createIfNotExists ?? false;
    this.keyAttribute = nonEmpty('keyAttribute', options.keyAttribute ?? 'SessionId');
    this.ttlAttribute = nonEmpty('ttlAttribute', options.ttlAttribute ?? 'TTL');
    this.ttlExtraSeconds = checkNumber('ttlExtraSeconds', options.ttlExtraSeconds ?? 300, 0, Number.MAX_SAFE_INTEGER, true);
    this.consistentReads = options.consistentReads ?? true;
    const compression = options.compression ?? {};
    const threshold = compression === false ? null : (compression.thresholdBytes ?? 8192);
    this.codec = new SessionItemsCodec(
      threshold === null ? null : checkNumber('compression.thresholdBytes', threshold, 0, Number.MAX_SAFE_INTEGER, true),
    );
    this.maxItemBytes = checkNumber('maxItemBytes', options.maxItemBytes ?? 400_000, 1, DYNAMODB_ITEM_LIMIT, true);
    this.requestTimeoutMs = checkNumber('requestTimeoutMs', options.requestTimeoutMs ?? 5000, 1, 2 ** 31 - 1, false);
    this.clock = options.clock ?? Date.now;
    const reserved = Object.values(Attr) as string[];
    for (const [name, value] of [['keyAttribute', this.keyAttribute], ['ttlAttribute', this.ttlAttribute]] as const) {
      if (reserved.includes(value) || WRITE_SLOT_NAMES.includes(value) || value.startsWith(LEGACY_WRITE_PREFIX)) {
        throw new TypeError(`DynamoDBSessionStateStore: ${name} "${value}" is one of the record's own attributes.`);
      }
    }

    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      const config = options.clientConfig ?? {};
      const attempts = options.maxAttempts ?? (config.maxAttempts as number | undefined) ?? 3;
      const maxAttempts = checkNumber('maxAttempts', attempts, 1, 100, true);
      this.client = new DynamoDBClient({
        ...config,
        maxAttempts,
        // Short attempts, so a stalled connection is retried within the call's overall bound.
        requestHandler: config.requestHandler ?? {
          connectionTimeout: Math.min(2000, this.requestTimeoutMs),
          requestTimeout: Math.max(1000, Math.floor(this.requestTimeoutMs / maxAttempts)),
          throwOnRequestTimeout: true,
        },
      });
      this.ownsClient = true;
      // The SDK's logger middleware filters every call's input and output for its log line even when
      // nothing logs (the default logger's `info` is a no-op): a fifth of the SDK's CPU per call here,
      // measured. Without a logger of the app's, it goes.
      if (!config.logger) this.client.middlewareStack.remove('loggerMiddleware');
    }
    this.health = new DynamoDBTableHealth(this.client, (operation, run) => this.call(operation, run), this.tableName, this.clock);
  }

  /**
   * Checks the table (one `DescribeTable`), or creates it with `createIfNotExists`. Idempotent;
   * a failed attempt can be retried. Runs at startup, never on the request path.
   */
  init(): Promise<void> {
    this.ready ??= prepareSessionTable({
      client: this.client,
      call: (operation, run) => this.call(operation, run),
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

  async onModuleInit(): Promise<void> {
    await this.init();
  }

  onApplicationShutdown(): void {
    this.destroy();
  }

  /** Destroys the client if the store built it (a client passed in belongs to the caller). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.ownsClient) this.client.destroy();
  }

  async getItem(id: string): Promise<SessionStateRead> {
    const now = this.clock();
    const record = await this.readLockItem(id);
    if (!record || record.expires <= now) return SESSION_ABSENT;
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
    const get = new GetItemCommand({ TableName: this.tableName, Key: this.key(id), ConsistentRead: this.consistentReads });
    const { Item } = await this.call('GetItem', (options) => this.client.send(get, options));
    return Item ? readRecord(Item) : undefined;
  }

  async getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    const now = this.clock();
    const lockId = newLockId(now);
    const lock = new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(id),
      // The expiry slides when the lock is taken too, so a long request never sees its session expire under it.
      UpdateExpression: `SET #locked = :true, #lockId = :lockId, #lockDate = :now, #flags = :zero, ${SLIDE_EXPIRY}`,
      // A lock call this store gave up on is revoked (`settleUnansweredLock`): its late arrival fails here.
      ConditionExpression:
        'attribute_exists(#key) AND #expires > :now AND (attribute_not_exists(#locked) OR #locked = :false) ' +
        'AND NOT contains(#abortedLocks, :lockId)',
      ExpressionAttributeNames: this.names('key', 'locked', 'lockId', 'lockDate', 'flags', 'abortedLocks', ...SLIDE_EXPIRY_NAMES),
      ExpressionAttributeValues: {
        ':true': { BOOL: true },
        ':false': { BOOL: false },
        ':lockId': { S: lockId },
        ':zero': num(0),
        ...this.slideValues(now),
      },
      // The record as it was, so the flags cleared here are reported once, by this call.
      ReturnValues: 'ALL_OLD',
      // The record that failed the condition: a contended lock costs this one call, no second read.
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
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
        if (mayHaveLanded(error)) await this.settleUnansweredLock(id, lockId);
        throw error;
      }
      if (!error.Item) return SESSION_ABSENT;
      const holder = readRecord(error.Item);
      if (holder.expires <= now) return SESSION_ABSENT;
      // Our own first attempt took the lock but its answer was lost; the SDK's retry then failed.
      if (holder.locked && holder.lockId === lockId) return this.loadedUnderLock(id, holder, lockId, now);
      if (holder.locked) return lockedAnswer(holder, now);
      throw corruptRecord('its lock or expiry attributes have unexpected types');
    }
    this.rememberPrune(lockId, record, now);
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

  async setAndReleaseItemExclusive(
    id: string,
    item: SessionStateStoreData,
    lockId: string | null,
    newItem: boolean,
  ): Promise<void> {
    await this.commit(id, item, lockId, newItem, undefined);
  }

  /**
   * One write (two for a session kept in a data item: the data, then the lock item), as
   * `setAndReleaseItemExclusive` or `releaseItemExclusive`, except that the lock item is locked
   * again under a new lock id instead of unlocked. Costs what the save or the release costs: the
   * next request's lock write is saved.
   */
  override async handOverItemExclusive(
    id: string,
    item: SessionStateStoreData,
    lockId: string,
    changed: boolean,
  ): Promise<SessionStateAcquisition> {
    const now = this.clock();
    const next = newLockId(now);
    let answer: FencedWrite;
    try {
      answer = changed ? { written: await this.commit(id, item, lockId, false, next) } : await this.unlock(id, lockId, next);
    } catch (error) {
      // No answer: like a lock call, the hand-over may still land. Revoke the new lock id (a late
      // arrival then fails its condition) and release it if it landed, before giving up. If it had
      // landed, the save (or release) is done: that is the answer, with nothing handed over.
      if (mayHaveLanded(error) && (await this.settleUnansweredLock(id, next))) return SESSION_ABSENT;
      throw error;
    }
    if ('refused' in answer) throw lockLost(answer.refused, 'it could not be handed over');
    // What the new holder's first write prunes (write tokens and aborted locks past their time).
    if (answer.written) this.rememberPrune(next, readRecord(answer.written), now);
    return {
      kind: 'acquired',
      item: item.owner === undefined ? { items: item.items, timeout: item.timeout } : { items: item.items, timeout: item.timeout, owner: item.owner },
      lockId: next,
      actions: SessionStateActions.None,
      expires: expiry(now, item.timeout, this.ttlExtraSeconds).expires,
    };
  }

  /**
   * Saves `item`: unlocked, or with `next`, locked again under that lock id. Answers the record as
   * written when the write's answer carried it (undefined when only a retry showed it applied).
   */
  private async commit(
    id: string,
    item: SessionStateStoreData,
    lockId: string | null,
    newItem: boolean,
    next: string | undefined,
  ): Promise<DynamoDBItem | undefined> {
    if (!newItem && lockId === null) throw lockLost('lock_mismatch', 'the changes of this request were not saved');
    const now = this.clock();
    const items = await this.codec.encode(item.items);
    const slide = expiry(now, item.timeout, this.ttlExtraSeconds);
    // Fresh per call: a retry of this very write finds it in the record; a second call does not.
    const writeToken = newWriteToken();
    const fields = {
      keyAttribute: this.keyAttribute,
      key: this.keyValue(id),
      ttlAttribute: this.ttlAttribute,
      timeout: item.timeout,
      expiry: slide,
      now,
      flags: 0,
      writeToken,
      owner: item.owner,
    };
    let record = unlockedRecord({ ...fields, data: { items } });
    let data: DynamoDBItem | undefined;
    let dataId: string | undefined;
    if (estimateItemBytes(record) + RECENT_WRITES_ALLOWANCE_BYTES > INLINE_MAX_BYTES) {
      dataId = randomUUID();
      data = dataItem({
        keyAttribute: this.keyAttribute,
        key: dataKey(this.keyValue(id), dataId),
        ttlAttribute: this.ttlAttribute,
        items,
        ttl: slide.ttl + DATA_TTL_MARGIN_SECONDS,
      });
      // Checked before any write: the stored session stays as it was.
      const size = estimateItemBytes(data);
      if (size > this.maxItemBytes) throw new SessionStateTooLargeError(size, this.maxItemBytes);
      record = unlockedRecord({ ...fields, data: { dataId } });
    }

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
    const end = this.lockEnd(lockId!, next, now);
    const set = [
      dataId === undefined ? '#items = :items' : '#dataId = :dataId',
      end.set,
      '#expires = :expires, #flags = :zero, #timeout = :timeout, #timeoutMs = :timeoutMs',
      '#timeoutSeconds = :timeoutSeconds, #version = :version, #ttl = :ttl',
      ...(item.owner === undefined ? [] : ['#owner = :owner']),
    ];
    const remove = [
      ...end.remove,
      dataId === undefined ? '#dataId' : '#items',
      ...(item.owner === undefined ? ['#owner'] : []),
    ];
    const update = (write: WriteClauses) => new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(id),
      UpdateExpression: updateExpression([...set, ...write.set], [...remove, ...write.remove], write.delete),
      ConditionExpression: end.condition,
      ExpressionAttributeNames: {
        ...this.names(...(['items', 'dataId', 'expires', 'flags', 'timeout', 'timeoutMs', 'timeoutSeconds', 'version', 'ttl', 'owner'] as const)),
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
      },
      ...end.returnValues,
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    const answer = await this.fencedUpdate(lockId!, writeToken, update);
    if ('refused' in answer) throw lockLost(answer.refused, 'the changes of this request were not saved');
    return answer.written;
  }

  async releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
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
    const end = this.lockEnd(lockId, next, now);
    const update = (write: WriteClauses) => new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(id),
      UpdateExpression: updateExpression([`${end.set}, ${SLIDE_EXPIRY}`, ...write.set], [...end.remove, ...write.remove], write.delete),
      ConditionExpression: end.condition,
      ExpressionAttributeNames: { ...this.names(...SLIDE_EXPIRY_NAMES), ...end.names, ...write.names },
      ExpressionAttributeValues: { ...end.values, ...this.slideValues(now), ...write.values },
      ...end.returnValues,
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    return this.fencedUpdate(lockId, writeToken, update);
  }

  /**
   * How a write under `lockId` ends the holder's hold: the session unlocked, or, with `next` (a
   * hand-over), locked again under that id, provided `next` was not revoked (`settleUnansweredLock`).
   * A hand-over reads the record back: what the new holder's first write prunes.
   */
  private lockEnd(lockId: string, next: string | undefined, now: number) {
    if (next === undefined) {
      return {
        set: '#locked = :false',
        remove: ['#lockId'],
        condition: '#lockId = :lockId',
        names: this.names('locked', 'lockId'),
        values: { ':false': { BOOL: false }, ':lockId': { S: lockId } } as Record<string, AttributeValue>,
        returnValues: {},
      };
    }
    return {
      set: '#locked = :true, #lockId = :next, #lockDate = :lockDate',
      remove: [],
      condition: '#lockId = :lockId AND NOT contains(#abortedLocks, :next)',
      names: this.names('locked', 'lockId', 'lockDate', 'abortedLocks'),
      values: { ':true': { BOOL: true }, ':next': { S: next }, ':lockDate': num(now), ':lockId': { S: lockId } } as Record<string, AttributeValue>,
      returnValues: { ReturnValues: 'ALL_NEW' as const },
    };
  }

  /**
   * A fenced `UpdateItem` under `lockId` (see `fencedWrite`), built by `build` with its write
   * clauses: why, when not applied; else the record as written when the answer carried it. Should
   * DynamoDB refuse what the lock's holder prunes (`ValidationException`: nothing was applied), the
   * write is sent again without it, so a prune can never stand in the way of a save.
   */
  private async fencedUpdate(
    lockId: string,
    writeToken: string,
    build: (write: WriteClauses) => UpdateItemCommand,
  ): Promise<FencedWrite> {
    const send = async (prune: Prune | undefined): Promise<FencedWrite> => {
      const update = build(writeClauses(writeToken, prune));
      let written: DynamoDBItem | undefined;
      const run = (options: SendOptions) => this.client.send(update, options).then((answer) => (written = answer.Attributes));
      const outcome = await this.fencedWrite('UpdateItem', writeToken, run);
      return outcome === true ? { written } : { refused: outcome };
    };
    const prune = this.prunes.get(lockId);
    try {
      const result = await send(prune);
      this.prunes.delete(lockId);
      return result;
    } catch (error) {
      if (prune === undefined || awsErrorName(error) !== 'ValidationException') throw error;
      this.prunes.delete(lockId);
      this.logger.warn(`DynamoDB refused to prune a session record's outdated bookkeeping; the write was made without it (${awsErrorName(error)}).`);
      return send(undefined);
    }
  }

  /**
   * Abandons the session: its record becomes an expired, unlocked stub (read as absent, replaced by
   * the next new session of that id, deleted by TTL) rather than being deleted, so a retried removal
   * finds its own token in it. Costs the same as a delete. The data item, if any, is left to its TTL.
   */
  async removeItem(id: string, lockId: string): Promise<void> {
    const now = this.clock();
    const writeToken = newWriteToken();
    const update = (write: WriteClauses) => new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(id),
      UpdateExpression: updateExpression(
        ['#locked = :false, #expires = :zero, #ttl = :ttl', ...write.set],
        ['#lockId, #items, #dataId, #owner', ...write.remove],
        write.delete,
      ),
      ConditionExpression: '#lockId = :lockId',
      ExpressionAttributeNames: { ...this.names('locked', 'expires', 'ttl', 'lockId', 'items', 'dataId', 'owner'), ...write.names },
      ExpressionAttributeValues: {
        ':false': { BOOL: false },
        ':zero': num(0),
        ':ttl': num(ttlBase(now, this.ttlExtraSeconds)),
        ':lockId': { S: lockId },
        ...write.values,
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    const answer = await this.fencedUpdate(lockId, writeToken, update);
    if ('refused' in answer) throw lockLost(answer.refused, 'the session was not removed');
  }

  async resetItemTimeout(id: string): Promise<void> {
    const now = this.clock();
    const update = new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(id),
      UpdateExpression: `SET ${SLIDE_EXPIRY}`,
      ConditionExpression: 'attribute_exists(#key) AND #expires > :now',
      ExpressionAttributeNames: this.names('key', ...SLIDE_EXPIRY_NAMES),
      ExpressionAttributeValues: this.slideValues(now),
    });
    // Absent or expired: the condition fails, nothing is slid and nothing is created.
    await this.conditional('UpdateItem', (options) => this.client.send(update, options));
  }

  override async createUninitializedItem(id: string, timeout: number): Promise<void> {
    const now = this.clock();
    // An existing item is kept as it is: the put's condition fails, and that is fine.
    await this.putIfAbsent(
      unlockedRecord({
        keyAttribute: this.keyAttribute,
        key: this.keyValue(id),
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
  override revokeOwner(owner: string): Promise<number> {
    const keyPrefix = this.application === undefined ? undefined : this.keyValue('');
    const settings = { client: this.client, call: this.call.bind(this), tableName: this.tableName, keyAttribute: this.keyAttribute };
    return revokeOwnerSessions({ ...settings, keyPrefix, now: this.clock() }, owner);
  }

  /** Asks DynamoDB for the capacity each call on the table consumes (see `dynamodb-consumed-capacity.middleware.ts`). */
  reportConsumedCapacity(report: ConsumedCapacityReport): () => void {
    return countConsumedCapacity(this.client, this.tableName, report);
  }

  /** The table is reachable and ACTIVE (one cached DescribeTable: see `dynamodb-table-health.ts`). */
  override checkHealth(): Promise<SessionStateStoreHealth> {
    return this.health.check();
  }

  /**
   * Makes the outcome of a lock call that got no answer certain before the request gives up on it:
   * adds its lock id to the record's `AbortedLocks`, so the call, should it still reach DynamoDB,
   * fails its condition; and if it had already landed (the revocation's answer shows its lock id),
   * releases it. Bounded by two calls; when DynamoDB does not answer those either, a fenced release
   * is left to run on its own (the lock, if it lands, is broken as stale after executionTimeout).
   */
  /** Answers whether the unanswered call had landed (its lock then released here). */
  private async settleUnansweredLock(id: string, lockId: string): Promise<boolean> {
    const revoke = new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(id),
      UpdateExpression: 'ADD #abortedLocks :lockIds',
      // Never creates a record for an absent id (a lock cannot land on one).
      ConditionExpression: 'attribute_exists(#key)',
      ExpressionAttributeNames: this.names('key', 'abortedLocks'),
      ExpressionAttributeValues: { ':lockIds': { SS: [lockId] } },
      ReturnValues: 'ALL_NEW',
    });
    let landed: boolean;
    try {
      const { Attributes } = await this.call('UpdateItem', (options) => this.client.send(revoke, options));
      landed = Attributes?.[Attr.lockId]?.S === lockId;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      this.logger.warn(`A lock call got no answer and could not be settled; the lock, if taken, is released later (${redactSecrets(String(error), [id], error)}).`);
      void this.releaseItemExclusive(id, lockId).catch(() => false);
      return false;
    }
    // Whether it landed is the revocation's answer alone: a release that fails now does not undo a
    // hand-over's save (its caller must not answer 503 for it); the lock is released later instead.
    if (landed) {
      await this.releaseItemExclusive(id, lockId).catch((error: unknown) => {
        this.logger.warn(`A lock taken without an answer could not be released; tried once more, else it turns stale (${redactSecrets(String(error), [id], error)}).`);
        void this.releaseItemExclusive(id, lockId).catch(() => false);
      });
    }
    return landed;
  }

  /**
   * Remembers, for the write the holder of `lockId` will make, earlier builds' write tokens and revocations
   * of the record that are past their time. Revocations are kept 20 minutes (the calls they revoke
   * can no longer reach DynamoDB, whose signatures expire within minutes), those write tokens for as
   * long as the SDK can retry their write. Nothing is remembered for most locks.
   */
  private rememberPrune(lockId: string, record: SessionRecord, now: number): void {
    const keepSince = now - this.requestTimeoutMs - WRITE_TOKEN_MARGIN_MS;
    const writes = [...record.legacyWrites]
      .filter(([, at]) => !(at > keepSince))
      .slice(0, LEGACY_WRITES_PRUNED_PER_WRITE)
      .map(([name]) => name);
    const aborted = record.abortedLocks.filter((entry) => !(lockIdTime(entry) > now - ABORTED_LOCK_KEEP_MS));
    if (writes.length === 0 && aborted.length === 0) return;
    this.prunes.set(lockId, { writes, aborted });
    if (this.prunes.size > MAX_REMEMBERED_PRUNES) this.prunes.delete(this.prunes.keys().next().value!);
  }

  /** Puts a whole record unless a live one exists (an expired leftover is replaced). */
  private async putIfAbsent(record: DynamoDBItem, now: number): Promise<{ written: boolean; old?: DynamoDBItem; attempts?: number }> {
    const put = new PutItemCommand({
      TableName: this.tableName,
      Item: record,
      ConditionExpression: 'attribute_not_exists(#key) OR #expires <= :now',
      ExpressionAttributeNames: this.names('key', 'expires'),
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

  /**
   * Runs one write fenced by a lock id that records `writeToken`. Answers true when it was applied:
   * by this call, or by an earlier attempt of it whose answer was lost (the SDK's retry then fails
   * the condition, and the record shows our token among the last writes'; see `wroteOrUnknown`).
   * Otherwise answers why it was refused, from the record that failed the condition.
   */
  private async fencedWrite(
    operation: string,
    writeToken: string,
    run: (options: SendOptions) => Promise<unknown>,
  ): Promise<true | SessionStateLockLostReason> {
    try {
      await this.call(operation, run);
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      if (wroteOrUnknown(error.Item, writeToken, attemptsOf(error), operation, this.tableName)) return true;
      return refusalOf(error.Item, this.clock());
    }
  }

  /** Runs one conditional write; answers false when its condition failed (nothing was written). */
  private async conditional(operation: string, run: (options: SendOptions) => Promise<unknown>): Promise<boolean> {
    try {
      await this.call(operation, run);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * Runs one DynamoDB call (SDK retries included) bounded by `requestTimeoutMs`: when the time
   * passes, the call is aborted and `SessionStateStoreUnavailableError` thrown, whatever the SDK or
   * a middleware is waiting for. Errors are mapped by `toStoreError`.
   */
  private async call<T>(operation: string, run: (options: SendOptions) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new SessionStateStoreUnavailableError(
          `DynamoDB ${operation} on table "${this.tableName}" did not complete within ${this.requestTimeoutMs} ms.`,
        );
        reject(error);
        controller.abort(error);
      }, this.requestTimeoutMs);
    });
    try {
      return await Promise.race([run({ abortSignal: controller.signal }), timedOut]);
    } catch (error) {
      throw toStoreError(error, operation, this.tableName);
    } finally {
      clearTimeout(timer);
    }
  }

  private async loaded(id: string, record: SessionRecord, lockId: string | null, now: number): Promise<Omit<SessionStateLoaded, 'kind'>> {
    let items: string;
    try {
      if (!Number.isFinite(record.timeout)) throw corruptRecord('it has no readable timeout');
      items = await this.codec.decode(record.dataId === null ? record.items : await this.readData(id, record, now));
    } catch (error) {
      if (error instanceof SessionStateCorruptError) error.lockId = lockId;
      throw error;
    }
    return {
      item: { items, timeout: record.timeout, ...(record.owner === undefined ? {} : { owner: record.owner }) },
      actions: actions(record),
      expires: record.expires,
    };
  }

  /**
   * The encoded items of a record kept in a data item. Eventually consistent first (half the
   * units; safe because a data item never changes), consistent when not found yet (a commit just
   * wrote it). Extends the data item's TTL when the session could soon outlive it.
   */
  private async readData(id: string, record: SessionRecord, now: number): Promise<AttributeValue | undefined> {
    const key = { [this.keyAttribute]: { S: dataKey(this.keyValue(id), record.dataId!) } };
    const read = async (consistent: boolean) => {
      const get = new GetItemCommand({ TableName: this.tableName, Key: key, ConsistentRead: consistent });
      return (await this.call('GetItem', (options) => this.client.send(get, options))).Item;
    };
    const data = (await read(false)) ?? (await read(true));
    if (!data) throw corruptRecord('its data item is missing');
    const sessionTtl = expiry(now, record.timeout, this.ttlExtraSeconds).ttl;
    const dataTtl = Number(data[this.ttlAttribute]?.N ?? 0);
    if (dataTtl < sessionTtl + DATA_TTL_REFRESH_AHEAD_SECONDS) {
      const extend = new UpdateItemCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'SET #ttl = :ttl',
        ConditionExpression: 'attribute_exists(#key)',
        ExpressionAttributeNames: this.names('key', 'ttl'),
        ExpressionAttributeValues: { ':ttl': num(sessionTtl + DATA_TTL_MARGIN_SECONDS) },
      });
      await this.conditional('UpdateItem', (options) => this.client.send(extend, options));
    }
    return data[Attr.items];
  }

  /** The values `SLIDE_EXPIRY` needs (`:now` included). */
  private slideValues(now: number): Record<string, AttributeValue> {
    return {
      ':now': num(now),
      ':ttlBase': num(ttlBase(now, this.ttlExtraSeconds)),
      ':defaultTimeoutMs': num(20 * 60_000),
      ':defaultTimeoutSeconds': num(20 * 60),
    };
  }

  private keyValue(id: string): string {
    return this.application === undefined ? id : `${this.application}-${id}`;
  }

  private key(id: string): Record<string, AttributeValue> {
    return { [this.keyAttribute]: { S: this.keyValue(id) } };
  }

  private names(...placeholders: Placeholder[]): Record<string, string> {
    const names: Record<string, string> = {};
    for (const p of placeholders) {
      names[PLACEHOLDERS[p]] = p === 'key' ? this.keyAttribute : p === 'ttl' ? this.ttlAttribute : Attr[p];
    }
    return names;
  }
}

/** A token for one write: 72 random bits (see `WRITE_SLOTS`). */
function newWriteToken(): string {
  return randomBytes(9).toString('base64url');
}

/** What a fenced write does besides its own change: records its token, removes what is past its time. */
interface WriteClauses {
  readonly set: string[];
  readonly remove: string[];
  readonly delete: string[];
  readonly names: Record<string, string>;
  readonly values: Record<string, AttributeValue>;
}

/**
 * The clauses of a write with `writeToken`: the tokens of the last writes shift by one slot
 * (`W7` takes `W6`'s, ... `W0` takes this one; the oldest drops out), in a fixed-size expression;
 * and the holder's prune, if any (`rememberPrune`), bounded too.
 */
function writeClauses(writeToken: string, prune: Prune | undefined): WriteClauses {
  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = { ':writeToken': { S: writeToken }, ':noWrite': { S: '-' } };
  const set: string[] = [];
  WRITE_SLOT_NAMES.forEach((name, i) => (names[`#w${i}`] = name));
  // Every right-hand side reads the record as it was before this update.
  for (let i = WRITE_SLOT_NAMES.length - 1; i > 0; i--) set.push(`#w${i} = if_not_exists(#w${i - 1}, :noWrite)`);
  set.push('#w0 = :writeToken');
  const remove = (prune?.writes ?? []).map((name, i) => {
    names[`#oldWrite${i}`] = name;
    return `#oldWrite${i}`;
  });
  const aborted = prune?.aborted ?? [];
  if (aborted.length > 0) {
    names[PLACEHOLDERS.abortedLocks] = Attr.abortedLocks;
    values[':oldAborted'] = { SS: [...aborted] };
  }
  return { set, remove, delete: aborted.length > 0 ? ['#abortedLocks :oldAborted'] : [], names, values };
}

/** How many attempts the SDK made of the call that failed with `error` (1 when it does not say). */
function attemptsOf(error: unknown): number {
  const attempts = (error as { $metadata?: { attempts?: unknown } }).$metadata?.attempts;
  return typeof attempts === 'number' && attempts > 0 ? attempts : 1;
}

/**
 * Whether a write with `writeToken`, whose last attempt failed its condition on `record`, was
 * applied. Its token among the last writes': yes, by an earlier attempt whose answer was lost. Else,
 * after a single attempt: no (that attempt's own answer says so). Else an earlier attempt may have
 * landed and been followed by more writes than the record remembers, or not have landed at all
 * (its lock broken as stale): that cannot be told, and the write is reported as of unknown outcome,
 * never as applied nor as surely not applied.
 */
function wroteOrUnknown(record: DynamoDBItem | undefined, writeToken: string, attempts: number, operation: string, tableName: string): boolean {
  if (readWriteTokens(record).includes(writeToken)) return true;
  if (attempts <= 1) return false;
  throw new SessionStateStoreUnavailableError(
    `DynamoDB ${operation} on table "${tableName}": the answer to a write was lost and its retry found the session ` +
      'changed by later requests; whether the write was applied cannot be told.',
  );
}

function updateExpression(set: string[], remove: string[], del: string[]): string {
  return [
    set.length > 0 ? `SET ${set.join(', ')}` : '',
    remove.length > 0 ? `REMOVE ${remove.join(', ')}` : '',
    del.length > 0 ? `DELETE ${del.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

function lockLost(reason: SessionStateLockLostReason, consequence: string): SessionStateLockLostError {
  return new SessionStateLockLostError(`The session lock was lost (broken as stale, or the session was removed); ${consequence}.`, reason);
}

/** Why a fenced write was refused, from the record that failed its condition (`ALL_OLD`). */
function refusalOf(record: DynamoDBItem | undefined, now: number): SessionStateLockLostReason {
  // Absent, or expired (a removed session is an expired stub): gone. Otherwise another lock holds it, or none.
  const expires = Number(record?.[Attr.expires]?.N);
  return record && expires > now ? 'lock_mismatch' : 'item_gone';
}

/** What a fenced write did: written (the record as written, when its answer carried it), or refused and why. */
type FencedWrite = { readonly written: DynamoDBItem | undefined } | { readonly refused: SessionStateLockLostReason };

function actions(record: SessionRecord): SessionStateActions {
  return record.flags & FLAG_UNINITIALIZED ? SessionStateActions.InitializeItem : SessionStateActions.None;
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

function nonEmpty(name: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`DynamoDBSessionStateStore: ${name} must be a non-empty string.`);
  }
  return value;
}

function checkNumber(name: string, value: number, min: number, max: number, integer: boolean): number {
  if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    const kind = integer ? 'an integer' : 'a number';
    throw new TypeError(`DynamoDBSessionStateStore: ${name} must be ${kind} from ${min} to ${max}.`);
  }
  return value;
}
