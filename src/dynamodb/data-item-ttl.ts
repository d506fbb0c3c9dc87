import { UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from '@nestjs/common';
import { redactSecrets } from '../observability/store-failure-log.js';
import type { BoundedCall } from './bounded-call.js';
import { isConditionFailure } from './dynamodb-errors.js';
import { num } from './dynamodb-session-record.js';
import type { RecordAddress } from './record-expressions.js';
import { DATA_TTL_MARGIN_SECONDS, DATA_TTL_REFRESH_AHEAD_SECONDS, dataKey } from './session-data-item.js';

export interface DataItemTtlSettings {
  readonly client: DynamoDBClient;
  readonly call: BoundedCall;
  readonly tableName: string;
  readonly address: RecordAddress;
  readonly logger: Logger;
}

/** Whether a data item whose TTL is `dataTtl` (undefined: not known) must be extended for a session whose TTL is now `sessionTtl`. */
export function dataTtlDue(dataTtl: number | undefined, sessionTtl: number): boolean {
  return dataTtl === undefined || dataTtl < sessionTtl + DATA_TTL_REFRESH_AHEAD_SECONDS;
}

/**
 * Extends the TTL of the data item `dataId` of session `id` to `sessionTtl` + `DATA_TTL_MARGIN_SECONDS`
 * (one write of the data item's size). Best effort: the session was read (or handed over) whatever
 * this answers, and the extension is due 12 h ahead, so a failure is logged (without the id) and a
 * later request extends it. Answers the data item's TTL as now known: the new one, else undefined.
 */
export async function extendDataItemTtl(settings: DataItemTtlSettings, id: string, dataId: string, sessionTtl: number): Promise<number | undefined> {
  const { client, call, tableName, address, logger } = settings;
  const ttl = sessionTtl + DATA_TTL_MARGIN_SECONDS;
  const extend = new UpdateItemCommand({
    TableName: tableName,
    Key: { [address.keyAttribute]: { S: dataKey(address.keyValue(id), dataId) } },
    UpdateExpression: 'SET #ttl = :ttl',
    // Never creates a data item (a gone one is the next load's corrupt record, not this write's).
    ConditionExpression: 'attribute_exists(#key)',
    ExpressionAttributeNames: address.names('key', 'ttl'),
    ExpressionAttributeValues: { ':ttl': num(ttl) },
  });
  try {
    await call('UpdateItem', (options) => client.send(extend, options));
    return ttl;
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    logger.warn(
      `The TTL of a session's data item could not be extended; the session was read, a later request extends it (${redactSecrets(String(error), [id], error)}).`,
    );
    return undefined;
  }
}

/** Lock ids remembered at most (oldest forgotten first): a forgotten one costs one extension more. */
const MAX_REMEMBERED_TTLS = 10_000;

/**
 * By lock id: the TTL of the session's data item as its holder knows it (from the load that took
 * the lock, or the commit that wrote the data item). An unchanged hand-over slides the session
 * without reading its data item; it carries this TTL to the next holder and extends the data item
 * when it is due, so a session kept busy by one instance's queue never outlives its data item.
 */
export class DataTtlBook {
  private readonly ttls = new Map<string, number>();

  remember(lockId: string, ttl: number | undefined): void {
    this.ttls.delete(lockId);
    if (ttl === undefined) return;
    this.ttls.set(lockId, ttl);
    if (this.ttls.size > MAX_REMEMBERED_TTLS) this.ttls.delete(this.ttls.keys().next().value!);
  }

  /** The TTL known under `lockId`, forgotten there. */
  take(lockId: string): number | undefined {
    const ttl = this.ttls.get(lockId);
    this.ttls.delete(lockId);
    return ttl;
  }
}
