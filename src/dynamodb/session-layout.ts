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
 * `INLINE_MAX_BYTES` (room left for the write tokens), else in a data item named by a fresh id.
 * A data item larger than `maxItemBytes` is refused before anything is written, so the stored
 * session stays as it was.
 */
export function layOutSession(
  fields: Omit<Parameters<typeof unlockedRecord>[0], 'data'>,
  items: AttributeValue,
  maxItemBytes: number,
): SessionLayout {
  const inline = unlockedRecord({ ...fields, data: { items } });
  if (estimateItemBytes(inline) + RECENT_WRITES_ALLOWANCE_BYTES <= INLINE_MAX_BYTES) return { record: inline };
  const dataId = randomUUID();
  const data = dataItem({
    keyAttribute: fields.keyAttribute,
    key: dataKey(fields.key, dataId),
    ttlAttribute: fields.ttlAttribute,
    items,
    ttl: fields.expiry.ttl + DATA_TTL_MARGIN_SECONDS,
  });
  const size = estimateItemBytes(data);
  if (size > maxItemBytes) throw new SessionStateTooLargeError(size, maxItemBytes);
  return { record: unlockedRecord({ ...fields, data: { dataId } }), data, dataId };
}
