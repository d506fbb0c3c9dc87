import { randomUUID } from 'node:crypto';
import {
  DeleteItemCommand,
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
} from '../../errors/session-state.errors.js';
import {
  NO_SESSION_ITEM,
  SessionStateActions,
  SessionStateStore,
  type SessionStateStoreData,
  type SessionStateStoreHealth,
  type SessionStateStoreItem,
} from '../session-state-store.js';
import { isConditionFailure, toStoreError } from './dynamodb-errors.js';
import {
  Attr,
  estimateItemBytes,
  expiry,
  FLAG_UNINITIALIZED,
  num,
  readRecord,
  RECORD_FORMAT_VERSION,
  ttlBase,
  unlockedRecord,
  type SessionRecord,
} from './dynamodb-session-record.js';
import type { DynamoDBSessionStateStoreOptions } from './dynamodb-session-state-store.options.js';
import { prepareSessionTable } from './dynamodb-session-table.js';
import { corruptRecord, SessionItemsCodec } from './session-items-codec.js';
import { revokeOwnerSessions } from './dynamodb-owner-index.js';
import { DynamoDBTableHealth } from './dynamodb-table-health.js';

/** DynamoDB's hard limit on the size of one item. */
const DYNAMODB_ITEM_LIMIT = 409_600;


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
  owner: '#owner',
} as const;
type Placeholder = keyof typeof PLACEHOLDERS;

/** What `call` passes to `client.send`. */
interface SendOptions {
  abortSignal: AbortSignal;
}

/**
 * The production store: sessions in a DynamoDB table, one item per session (see
 * `dynamodb-session-record.ts` for its layout). Every operation is one DynamoDB call that is safe
 * on its own: locks are taken and released with conditional writes fenced by the lock id, so a
 * request whose lock was broken can never overwrite newer data, and a contended lock costs one
 * call that reports the holder. Expired items read as absent (TTL deletion lags by hours).
 *
 * Call `init()` once before use (Nest does, through `onModuleInit`): it checks, or creates, the table.
 */
export class DynamoDBSessionStateStore extends SessionStateStore implements OnModuleInit, OnApplicationShutdown {
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
      if (reserved.includes(value)) {
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

  async getItem(id: string): Promise<SessionStateStoreItem> {
    const get = new GetItemCommand({ TableName: this.tableName, Key: this.key(id), ConsistentRead: this.consistentReads });
    const { Item } = await this.call('GetItem', (options) => this.client.send(get, options));
    if (!Item) return NO_SESSION_ITEM;
    const now = this.clock();
    const record = readRecord(Item);
    if (record.expires <= now) return NO_SESSION_ITEM;
    if (record.locked) {
      const { lockId, expires } = record;
      return { item: null, locked: true, lockAge: lockAge(record, now), lockId, actions: actions(record), expires };
    }
    return this.loaded(record, null);
  }

  async getItemExclusive(id: string): Promise<SessionStateStoreItem> {
    const now = this.clock();
    const lockId = randomUUID();
    const lock = new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(id),
      // The expiry slides when the lock is taken too, so a long request never sees its session expire under it.
      UpdateExpression: `SET #locked = :true, #lockId = :lockId, #lockDate = :now, #flags = :zero, ${SLIDE_EXPIRY}`,
      ConditionExpression: 'attribute_exists(#key) AND #expires > :now AND (attribute_not_exists(#locked) OR #locked = :false)',
      ExpressionAttributeNames: this.names('key', 'locked', 'lockId', 'lockDate', 'flags', ...SLIDE_EXPIRY_NAMES),
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
    try {
      const { Attributes } = await this.call('UpdateItem', (options) => this.client.send(lock, options));
      let record: SessionRecord;
      try {
        if (!Attributes) throw corruptRecord('DynamoDB returned no attributes for a locked record');
        record = readRecord(Attributes);
      } catch (error) {
        // We hold the lock of a record we cannot read: hand its id over so the caller can release it.
        if (error instanceof SessionStateCorruptError) error.lockId = lockId;
        throw error;
      }
      // ALL_OLD holds the expiry from before the lock slid it; answer the slid one.
      return { ...(await this.loaded(record, lockId)), expires: now + record.timeout * 60_000 };
    } catch (error) {
      if (!isConditionFailure(error)) {
        // A lock DynamoDB applied but whose answer never arrived (timeout) would block the session
        // until it is stale: release it, fenced by our lock id, so it is harmless if never taken.
        if (!(error instanceof SessionStateCorruptError)) void this.releaseItemExclusive(id, lockId).catch(() => false);
        throw error;
      }
      if (!error.Item) return NO_SESSION_ITEM;
      const holder = readRecord(error.Item);
      if (holder.expires <= now) return NO_SESSION_ITEM;
      // Our own first attempt took the lock but its answer was lost; the SDK's retry then failed.
      if (holder.locked && holder.lockId === lockId) return this.loaded(holder, lockId);
      if (holder.locked) return { ...NO_SESSION_ITEM, locked: true, lockAge: lockAge(holder, now), lockId: holder.lockId };
      throw corruptRecord('its lock or expiry attributes have unexpected types');
    }
  }

  async setAndReleaseItemExclusive(
    id: string,
    item: SessionStateStoreData,
    lockId: string | null,
    newItem: boolean,
  ): Promise<void> {
    const now = this.clock();
    const items = await this.codec.encode(item.items);
    const slide = expiry(now, item.timeout, this.ttlExtraSeconds);
    const record = unlockedRecord({
      keyAttribute: this.keyAttribute,
      key: this.keyValue(id),
      ttlAttribute: this.ttlAttribute,
      items,
      timeout: item.timeout,
      expiry: slide,
      now,
      flags: 0,
      owner: item.owner,
    });
    // Checked before any write: the stored session stays as it was.
    const size = estimateItemBytes(record);
    if (size > this.maxItemBytes) throw new SessionStateTooLargeError(size, this.maxItemBytes);

    if (newItem) {
      if (!(await this.putIfAbsent(record, now))) {
        throw new SessionStateLockLostError('A session with this id already exists; the new session was not written.');
      }
      return;
    }
    if (lockId === null) throw lockLost('the changes of this request were not saved');
    const update = new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(id),
      UpdateExpression:
        'SET #items = :items, #locked = :false, #expires = :expires, #flags = :zero, #timeout = :timeout, ' +
        '#timeoutMs = :timeoutMs, #timeoutSeconds = :timeoutSeconds, #version = :version, #ttl = :ttl' +
        (item.owner === undefined ? ' REMOVE #lockId, #owner' : ', #owner = :owner REMOVE #lockId'),
      ConditionExpression: '#lockId = :lockId',
      ExpressionAttributeNames: this.names(
        ...['items', 'locked', 'expires', 'flags', 'timeout', 'timeoutMs', 'timeoutSeconds', 'version', 'ttl', 'lockId', 'owner'] as const,
      ),
      ExpressionAttributeValues: {
        ':items': items,
        ':false': { BOOL: false },
        ':expires': num(slide.expires),
        ':zero': num(0),
        ':timeout': num(item.timeout),
        ':timeoutMs': num(slide.timeoutMs),
        ':timeoutSeconds': num(slide.timeoutSeconds),
        ':version': num(RECORD_FORMAT_VERSION),
        ':ttl': num(slide.ttl),
        ':lockId': { S: lockId },
        ...(item.owner === undefined ? {} : { ':owner': { S: item.owner } }),
      },
    });
    if (!(await this.conditional('UpdateItem', (options) => this.client.send(update, options)))) {
      throw lockLost('the changes of this request were not saved');
    }
  }

  async releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    const now = this.clock();
    const update = new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.key(id),
      UpdateExpression: `SET #locked = :false, ${SLIDE_EXPIRY} REMOVE #lockId`,
      ConditionExpression: '#lockId = :lockId',
      ExpressionAttributeNames: this.names('locked', 'lockId', ...SLIDE_EXPIRY_NAMES),
      ExpressionAttributeValues: { ':false': { BOOL: false }, ':lockId': { S: lockId }, ...this.slideValues(now) },
    });
    return this.conditional('UpdateItem', (options) => this.client.send(update, options));
  }

  async removeItem(id: string, lockId: string): Promise<void> {
    const remove = new DeleteItemCommand({
      TableName: this.tableName,
      Key: this.key(id),
      ConditionExpression: '#lockId = :lockId',
      ExpressionAttributeNames: this.names('lockId'),
      ExpressionAttributeValues: { ':lockId': { S: lockId } },
    });
    if (!(await this.conditional('DeleteItem', (options) => this.client.send(remove, options)))) {
      throw lockLost('the session was not removed');
    }
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

  async createUninitializedItem(id: string, timeout: number): Promise<void> {
    const now = this.clock();
    // An existing item is kept as it is: the put's condition fails, and that is fine.
    await this.putIfAbsent(
      unlockedRecord({
        keyAttribute: this.keyAttribute,
        key: this.keyValue(id),
        ttlAttribute: this.ttlAttribute,
        items: { S: '{}' },
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

  /** The table is reachable and ACTIVE (one cached DescribeTable: see `dynamodb-table-health.ts`). */
  override checkHealth(): Promise<SessionStateStoreHealth> {
    return this.health.check();
  }

  /** Puts a whole record unless a live one exists (an expired leftover is replaced). Answers whether it did. */
  private putIfAbsent(record: Record<string, AttributeValue>, now: number): Promise<boolean> {
    const put = new PutItemCommand({
      TableName: this.tableName,
      Item: record,
      ConditionExpression: 'attribute_not_exists(#key) OR #expires <= :now',
      ExpressionAttributeNames: this.names('key', 'expires'),
      ExpressionAttributeValues: { ':now': num(now) },
    });
    return this.conditional('PutItem', (options) => this.client.send(put, options));
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

  private async loaded(record: SessionRecord, lockId: string | null): Promise<SessionStateStoreItem> {
    let items: string;
    try {
      if (!Number.isFinite(record.timeout)) throw corruptRecord('it has no readable timeout');
      items = await this.codec.decode(record.items);
    } catch (error) {
      if (error instanceof SessionStateCorruptError) error.lockId = lockId;
      throw error;
    }
    return {
      item: { items, timeout: record.timeout, ...(record.owner === undefined ? {} : { owner: record.owner }) },
      locked: false,
      lockAge: 0,
      lockId,
      actions: actions(record),
      expires: record.expires,
    };
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

function lockLost(consequence: string): SessionStateLockLostError {
  return new SessionStateLockLostError(`The session lock was lost (broken as stale, or the session was removed); ${consequence}.`);
}

function actions(record: SessionRecord): SessionStateActions {
  return record.flags & FLAG_UNINITIALIZED ? SessionStateActions.InitializeItem : SessionStateActions.None;
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
