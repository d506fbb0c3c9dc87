import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { corruptRecord } from './session-items-codec.js';

/**
 * The record's `Version` says where its items are. Version 1 (the only one up to 0.1): inline, in
 * `Items`. Version 2: in the data item named by `DataId` (see `session-data-item.ts`), for items
 * that do not fit in a 1 KB lock item. A small session is still written as version 1, which 0.1
 * reads as its own (the attributes it does not know are ignored): during a rolling upgrade, or
 * after a rollback, only sessions over 1 KB are unreadable to 0.1. A 0.1 record is read, locked and
 * released as it is, and its next commit writes the layout its size calls for.
 */
export const INLINE_RECORD_VERSION = 1;
export const DATA_ITEM_RECORD_VERSION = 2;
const READABLE_VERSIONS = new Set([1, 2]);

/**
 * Each commit, release or removal records a token fresh for that call, so a write that the SDK
 * retried after its answer was lost finds its own first attempt when the retry fails its condition,
 * even if other requests have written since. The tokens of the last `WRITE_SLOTS` writes are kept
 * in the attributes `W0` (newest) to `W7`, shifted by one at each write inside its own update
 * expression: the lock item and the expression stay the same size whatever the write rate. A
 * retry that finds its token in none of them, after more than one attempt, cannot tell whether its
 * first attempt landed (see `wroteOrUnknown` in the store).
 */
export const WRITE_SLOTS = 8;
export const WRITE_SLOT_NAMES: readonly string[] = Array.from({ length: WRITE_SLOTS }, (_, i) => `W${i}`);

/**
 * Earlier builds of 0.2 kept one attribute per recent write instead (`Write:{token}`, its time in
 * epoch ms), which grew with the write rate (issue 16). Records they wrote are healed: the first write under each lock
 * removes up to `LEGACY_WRITES_PRUNED_PER_WRITE` of those past their time.
 */
export const LEGACY_WRITE_PREFIX = 'Write:';

/** `Flags` bit of a record made by `createUninitializedItem`. */
export const FLAG_UNINITIALIZED = 1;

/**
 * The record's attribute names; the key and TTL names are options. Times are epoch ms (UTC)
 * numbers, the TTL attribute epoch seconds.
 *
 * `TimeoutMs` and `TimeoutSeconds` repeat `Timeout` (minutes) in the units the expiry and the TTL
 * are counted in: an update expression can add but not multiply, and this lets `releaseItemExclusive`
 * and `resetItemTimeout` slide a session's own expiry in one `UpdateItem` without reading it first.
 */
export const Attr = {
  items: 'Items',
  locked: 'Locked',
  lockId: 'LockId',
  lockDate: 'LockDate',
  expires: 'Expires',
  createDate: 'CreateDate',
  flags: 'Flags',
  timeout: 'Timeout',
  timeoutMs: 'TimeoutMs',
  timeoutSeconds: 'TimeoutSeconds',
  version: 'Version',
  /** Version 2: the key suffix of the data item holding the items. */
  dataId: 'DataId',

  /** Since 0.2: lock ids whose lock call was given up on; a late arrival of one fails its condition. */
  abortedLocks: 'AbortedLocks',
  /** Since 0.2: the session's owner (`SessionStateStoreData.owner`), for a sparse index. */
  owner: 'Owner',
  /** Since 0.2: `SessionStateStoreData.created` (epoch ms; the lifecycle's, unlike `CreateDate`, the record's). */
  created: 'Created',
  /** Since 0.2: `SessionStateStoreData.client` (`recordClient`). */
  client: 'Client',
  /**
   * A removed record's marker that its session moved (`removeItem` with `moved`): until when,
   * epoch ms. Only on an expired stub (no data, no owner); read as `SESSION_MOVED` until then.
   */
  movedUntil: 'MovedUntil',
  /** With `movedUntil`: the lock id of the move; its removal run again under it finds its own marker (done). */
  movedBy: 'MovedBy',
} as const;

export type DynamoDBItem = Record<string, AttributeValue>;

/** The fields of a stored record the store reads (items stay encoded until needed). */
// (`created` and `client` are kept as written, for `SessionStateStoreData`.)
export interface SessionRecord {
  /** The encoded items when stored inline (version 1, or a small version 2 session). */
  readonly items: AttributeValue | undefined;
  /** The data item's id when the items are stored apart. */
  readonly dataId: string | null;
  /** Tokens of the last writes (`WRITE_SLOTS`), newest first. */
  readonly writeTokens: readonly string[];
  /** Earlier builds' tokens of recent writes (`LEGACY_WRITE_PREFIX`), and when they were written (epoch ms). */
  readonly legacyWrites: ReadonlyMap<string, number>;
  readonly abortedLocks: readonly string[];
  readonly owner: string | undefined;
  readonly created: number | undefined;
  readonly client: string | undefined;
  /** `Attr.movedUntil`: 0 when not a moved session's marker. */
  readonly movedUntil: number;
  readonly locked: boolean;
  readonly lockId: string | null;
  readonly lockDate: number;
  readonly expires: number;
  readonly flags: number;
  readonly timeout: number;
}

export function num(value: number): AttributeValue {
  return { N: String(value) };
}

export function readRecord(item: DynamoDBItem): SessionRecord {
  const version = item[Attr.version]?.N;
  if (version !== undefined && !READABLE_VERSIONS.has(Number(version))) {
    throw corruptRecord(`its record format version ${version} is not supported (expected 1 or 2)`);
  }
  return {
    items: item[Attr.items],
    // Only a version 2 record references a data item: an instance still running 0.1 that commits
    // over one writes Items and Version 1 (leaving DataId), and that write is the newest.
    dataId: version === String(DATA_ITEM_RECORD_VERSION) ? (item[Attr.dataId]?.S ?? null) : null,
    writeTokens: readWriteTokens(item),
    legacyWrites: readLegacyWrites(item),
    abortedLocks: item[Attr.abortedLocks]?.SS ?? [],
    owner: item[Attr.owner]?.S,
    created: readNumber(item, Attr.created),
    client: item[Attr.client]?.S,
    movedUntil: readNumber(item, Attr.movedUntil) ?? 0,
    locked: item[Attr.locked]?.BOOL === true,
    lockId: item[Attr.lockId]?.S ?? null,
    lockDate: readNumber(item, Attr.lockDate) ?? 0,
    // A record without a readable expiry reads as expired, hence absent.
    expires: readNumber(item, Attr.expires) ?? 0,
    flags: readNumber(item, Attr.flags) ?? 0,
    timeout: readNumber(item, Attr.timeout) ?? Number.NaN,
  };
}

export function readWriteTokens(item: DynamoDBItem | undefined): string[] {
  return WRITE_SLOT_NAMES.map((name) => item?.[name]?.S).filter((token): token is string => token !== undefined);
}

function readLegacyWrites(item: DynamoDBItem): Map<string, number> {
  const writes = new Map<string, number>();
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith(LEGACY_WRITE_PREFIX)) writes.set(name, Number(value.N));
  }
  return writes;
}

function readNumber(item: DynamoDBItem, name: string): number | undefined {
  const text = item[name]?.N;
  const value = text === undefined ? Number.NaN : Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Expiry of a session written or touched at `now`, and the per-record values that slide it. */
export interface Expiry {
  readonly timeoutMs: number;
  readonly timeoutSeconds: number;
  readonly expires: number;
  readonly ttl: number;
}

/** `ttlBase(now) + TimeoutSeconds` is the TTL, both when written whole and when slid by an update. */
export function ttlBase(now: number, ttlExtraSeconds: number): number {
  return Math.ceil(now / 1000) + ttlExtraSeconds;
}

export function expiry(now: number, timeoutMinutes: number, ttlExtraSeconds: number): Expiry {
  const timeoutMs = Math.round(timeoutMinutes * 60_000);
  const timeoutSeconds = Math.ceil(timeoutMs / 1000);
  return { timeoutMs, timeoutSeconds, expires: now + timeoutMs, ttl: ttlBase(now, ttlExtraSeconds) + timeoutSeconds };
}

/**
 * A whole, unlocked record as `PutItem` writes it. `UpdateItem` of an existing record leaves it
 * with the same attributes (its `CreateDate` and `LockDate` are kept), so the size of this record
 * is also the size an update produces.
 */
export function unlockedRecord(fields: {
  keyAttribute: string;
  key: string;
  ttlAttribute: string;
  /** The items inline, or the id of the data item holding them: exactly one. */
  data: { items: AttributeValue } | { dataId: string };
  timeout: number;
  expiry: Expiry;
  now: number;
  flags: number;
  /** The token of this write (see `WRITE_SLOTS`). */
  writeToken?: string;
  owner?: string;
  created?: number;
  client?: string;
}): DynamoDBItem {
  return {
    [fields.keyAttribute]: { S: fields.key },
    ...('items' in fields.data ? { [Attr.items]: fields.data.items } : { [Attr.dataId]: { S: fields.data.dataId } }),
    ...(fields.writeToken === undefined ? {} : { [WRITE_SLOT_NAMES[0]!]: { S: fields.writeToken } }),
    ...(fields.owner === undefined ? {} : { [Attr.owner]: { S: fields.owner } }),
    ...(fields.created === undefined ? {} : { [Attr.created]: num(fields.created) }),
    ...(fields.client === undefined ? {} : { [Attr.client]: { S: fields.client } }),
    [Attr.locked]: { BOOL: false },
    [Attr.lockDate]: num(fields.now),
    [Attr.expires]: num(fields.expiry.expires),
    [Attr.createDate]: num(fields.now),
    [Attr.flags]: num(fields.flags),
    [Attr.timeout]: num(fields.timeout),
    [Attr.timeoutMs]: num(fields.expiry.timeoutMs),
    [Attr.timeoutSeconds]: num(fields.expiry.timeoutSeconds),
    [Attr.version]: num('items' in fields.data ? INLINE_RECORD_VERSION : DATA_ITEM_RECORD_VERSION),
    [fields.ttlAttribute]: num(fields.expiry.ttl),
  };
}

/** Longest lock id the store makes (`lock-id.ts`): a time prefix and a UUID. */
const MAX_LOCK_ID_LENGTH = 48;

/**
 * DynamoDB's item size, estimated from above: attribute names plus values, a number counted at its
 * maximum of 21 bytes, plus the lock id the item may hold while locked.
 */
export function estimateItemBytes(item: DynamoDBItem): number {
  let size = Attr.lockId.length + MAX_LOCK_ID_LENGTH;
  for (const [name, value] of Object.entries(item)) {
    size += Buffer.byteLength(name, 'utf8');
    if (value.S !== undefined) size += Buffer.byteLength(value.S, 'utf8');
    else if (value.B !== undefined) size += value.B.byteLength;
    else if (value.N !== undefined) size += 21;
    else if (value.SS !== undefined) for (const entry of value.SS) size += Buffer.byteLength(entry, 'utf8');
    else size += 1;
  }
  return size;
}
