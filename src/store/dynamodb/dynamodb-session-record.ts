import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { corruptRecord } from './session-items-codec.js';

/** Version of the record layout below, stored in every record's `Version` attribute. */
export const RECORD_FORMAT_VERSION = 1;

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
  /** The session's owner (a string); absent without one, so the sparse owner index skips it. */
  owner: 'Owner',
} as const;

export type DynamoDBItem = Record<string, AttributeValue>;

/** The fields of a stored record the store reads (items stay encoded until needed). */
export interface SessionRecord {
  readonly items: AttributeValue | undefined;
  readonly locked: boolean;
  readonly lockId: string | null;
  readonly lockDate: number;
  readonly expires: number;
  readonly flags: number;
  readonly timeout: number;
  readonly owner: string | undefined;
}

export function num(value: number): AttributeValue {
  return { N: String(value) };
}

export function readRecord(item: DynamoDBItem): SessionRecord {
  const version = item[Attr.version]?.N;
  if (version !== undefined && Number(version) !== RECORD_FORMAT_VERSION) {
    throw corruptRecord(`its record format version ${version} is not supported (expected ${RECORD_FORMAT_VERSION})`);
  }
  return {
    items: item[Attr.items],
    locked: item[Attr.locked]?.BOOL === true,
    lockId: item[Attr.lockId]?.S ?? null,
    lockDate: readNumber(item, Attr.lockDate) ?? 0,
    // A record without a readable expiry reads as expired, hence absent.
    expires: readNumber(item, Attr.expires) ?? 0,
    flags: readNumber(item, Attr.flags) ?? 0,
    timeout: readNumber(item, Attr.timeout) ?? Number.NaN,
    owner: item[Attr.owner]?.S,
  };
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
  items: AttributeValue;
  timeout: number;
  expiry: Expiry;
  now: number;
  flags: number;
  owner?: string;
}): DynamoDBItem {
  return {
    ...(fields.owner === undefined ? {} : { [Attr.owner]: { S: fields.owner } }),
    [fields.keyAttribute]: { S: fields.key },
    [Attr.items]: fields.items,
    [Attr.locked]: { BOOL: false },
    [Attr.lockDate]: num(fields.now),
    [Attr.expires]: num(fields.expiry.expires),
    [Attr.createDate]: num(fields.now),
    [Attr.flags]: num(fields.flags),
    [Attr.timeout]: num(fields.timeout),
    [Attr.timeoutMs]: num(fields.expiry.timeoutMs),
    [Attr.timeoutSeconds]: num(fields.expiry.timeoutSeconds),
    [Attr.version]: num(RECORD_FORMAT_VERSION),
    [fields.ttlAttribute]: num(fields.expiry.ttl),
  };
}

/**
 * DynamoDB's item size, estimated from above: attribute names plus values, a number counted at its
 * maximum of 21 bytes, plus the 36 bytes of a lock id the item may hold while locked.
 */
export function estimateItemBytes(item: DynamoDBItem): number {
  let size = Attr.lockId.length + 36;
  for (const [name, value] of Object.entries(item)) {
    size += Buffer.byteLength(name, 'utf8');
    if (value.S !== undefined) size += Buffer.byteLength(value.S, 'utf8');
    else if (value.B !== undefined) size += value.B.byteLength;
    else if (value.N !== undefined) size += 21;
    else size += 1;
  }
  return size;
}
