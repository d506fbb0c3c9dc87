import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { Attr, num, type DynamoDBItem } from './dynamodb-session-record.js';

/**
 * Items larger than this, once encoded, leave the session's item for a data item of their own:
 * the session's item (the "lock item") then stays under 1 KB, so taking, releasing and sliding the
 * lock, and a failed attempt on it, cost 1 WCU whatever the session's size. Measured on the whole
 * lock item, estimated from above (`estimateItemBytes`).
 */
export const INLINE_MAX_BYTES = 1024;

/**
 * Room kept free in an inline lock item for the tokens of the other recent writes (`W1` to `W7`,
 * 14 bytes each; the record as written holds only `W0`), so a session near the limit stays within 1 KB.
 */
export const RECENT_WRITES_ALLOWANCE_BYTES = 100;

/**
 * A data item's TTL outlives its session's TTL by this margin (1 day). Superseded data items are
 * never deleted by the store (a delete is charged by the item's size); TTL deletion, which is free,
 * removes them within about this margin plus DynamoDB's own lag.
 */
export const DATA_TTL_MARGIN_SECONDS = 86_400;

/**
 * When a load finds that the session's TTL, slid now, would come within this much (12 h) of its
 * data item's TTL, it extends the data item's TTL by `DATA_TTL_MARGIN_SECONDS` (one write of the
 * data item's size, at most once per 12 h of a session's activity). Every slide of a session's
 * expiry follows a load of it within one request, which lasts far less than 12 h, or is an
 * unchanged hand-over, which checks the data item's TTL the same way (known from the load or commit
 * that began its chain: `DataTtlBook`), so a live session's data item is never deleted under it.
 */
export const DATA_TTL_REFRESH_AHEAD_SECONDS = 43_200;

/**
 * The data item's key: the session's key, `#`, and a fresh id per commit. A data item is written
 * once and never changed (only its TTL is extended), so a stale lock holder can only ever write a
 * data item no session references, and an eventually consistent read of one is safe. Session ids
 * never contain `#`, so no session key can name a data item.
 */
export function dataKey(sessionKey: string, dataId: string): string {
  return `${sessionKey}#${dataId}`;
}

export function dataItem(fields: { keyAttribute: string; key: string; ttlAttribute: string; items: AttributeValue; ttl: number }): DynamoDBItem {
  return {
    [fields.keyAttribute]: { S: fields.key },
    [Attr.items]: fields.items,
    [fields.ttlAttribute]: num(fields.ttl),
  };
}
