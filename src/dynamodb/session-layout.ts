import { randomUUID } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { SessionStateTooLargeError } from '../errors/session-state.errors.js';
import { estimateItemBytes, unlockedRecord, type DynamoDBItem } from './dynamodb-session-record.js';
import { DATA_TTL_MARGIN_SECONDS, dataItem, dataKey, INLINE_MAX_BYTES, RECENT_WRITES_ALLOWANCE_BYTES } from './session-data-item.js';

/** Where a saved session goes: its lock item, and the data item beside it when the items do not fit inline. */
export interface SessionLayout {
  /** The lock item as written, unlocked (a save under a lock writes its fields in an update). */
  readonly record: DynamoDBItem;
  /** The data item, written first under a key nothing references yet; absent when inline. */
  readonly data?: DynamoDBItem;
  readonly dataId?: string;
}

/**
 * Lays out a session of encoded `items`: inline in its lock item when that stays under
 * `INLINE_MAX_BYTES` (room left for the write tokens, and for `reservedBytes`: the revoked lock ids
 * the lock item keeps), else in a data item named by a fresh id, unless that would not make the
 * lock item cheaper to write (an owner long enough keeps it over 1 KB anyway).
 * The item holding the items, inline or data, is at most `maxItemBytes`: an inline record over it
 * goes to a data item (what stays on the lock item, an owner, is not the session's data), and a data
 * item over it is refused before anything is written, so the stored session stays as it was.
 */
export function layOutSession(
  fields: Omit<Parameters<typeof unlockedRecord>[0], 'data'>,
  items: AttributeValue,
  maxItemBytes: number,
  reservedBytes = 0,
): SessionLayout {
  const inline = unlockedRecord({ ...fields, data: { items } });
  const inlineSize = estimateItemBytes(inline);
  // Checked on the data item only, the limit let any session small enough to stay inline through.
  const inlineFits = inlineSize <= maxItemBytes;
  const inlineBytes = inlineSize + RECENT_WRITES_ALLOWANCE_BYTES + reservedBytes;
  if (inlineFits && inlineBytes <= INLINE_MAX_BYTES) return { record: inline };
  const dataId = randomUUID();
  const record = unlockedRecord({ ...fields, data: { dataId } });
  // What stays on the lock item either way (a long owner: up to 1024 bytes) can keep it over 1 KB:
  // a data item then pays only when the lock item's write units drop (else a PutItem and a GetItem more for nothing).
  if (inlineFits && writeUnits(estimateItemBytes(record) + RECENT_WRITES_ALLOWANCE_BYTES + reservedBytes) >= writeUnits(inlineBytes)) {
    return { record: inline };
  }
  const data = dataItem({
    keyAttribute: fields.keyAttribute,
    key: dataKey(fields.key, dataId),
    ttlAttribute: fields.ttlAttribute,
    items,
    ttl: fields.expiry.ttl + DATA_TTL_MARGIN_SECONDS,
  });
  const size = estimateItemBytes(data);
  if (size > maxItemBytes) throw new SessionStateTooLargeError(size, maxItemBytes);
  return { record, data, dataId };
}

/** Write units of an item of `bytes` (1 per KB started). */
function writeUnits(bytes: number): number {
  return Math.ceil(bytes / INLINE_MAX_BYTES);
}
