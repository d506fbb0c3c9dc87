import { UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from '@nestjs/common';
import { redactSecrets } from '../observability/store-failure-log.js';
import type { BoundedCall } from './bounded-call.js';
import { isConditionFailure } from './dynamodb-errors.js';
import { Attr } from './dynamodb-session-record.js';
import type { RecordAddress } from './record-expressions.js';

export interface UnansweredLockSettings {
  readonly client: DynamoDBClient;
  readonly call: BoundedCall;
  readonly tableName: string;
  readonly address: RecordAddress;
  readonly logger: Logger;
  /** The store's `releaseItemExclusive`. */
  readonly release: (id: string, lockId: string) => Promise<boolean>;
}

/**
 * Makes the outcome of a lock call that got no answer certain before the request gives up on it:
 * adds its lock id to the record's `AbortedLocks`, so the call, should it still reach DynamoDB,
 * fails its condition; and if it had already landed (the revocation's answer shows its lock id),
 * releases it. Bounded by two calls; when DynamoDB does not answer those either, a fenced release
 * is left to run on its own (the lock, if it lands, is broken as stale after executionTimeout).
 * Answers whether the unanswered call had landed (its lock then released here).
 */
export async function settleUnansweredLock(settings: UnansweredLockSettings, id: string, lockId: string): Promise<boolean> {
  const { client, call, tableName, address, logger, release } = settings;
  const revoke = new UpdateItemCommand({
    TableName: tableName,
    Key: address.key(id),
    UpdateExpression: 'ADD #abortedLocks :lockIds',
    // Never creates a record for an absent id (a lock cannot land on one).
    ConditionExpression: 'attribute_exists(#key)',
    ExpressionAttributeNames: address.names('key', 'abortedLocks'),
    ExpressionAttributeValues: { ':lockIds': { SS: [lockId] } },
    ReturnValues: 'ALL_NEW',
  });
  let landed: boolean;
  try {
    const { Attributes } = await call('UpdateItem', (options) => client.send(revoke, options));
    landed = Attributes?.[Attr.lockId]?.S === lockId;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    logger.warn(
      `A lock call got no answer and could not be settled; the lock, if taken, is released later (${redactSecrets(String(error), [id], error)}).`,
    );
    void release(id, lockId).catch(() => false);
    return false;
  }
  // Whether it landed is the revocation's answer alone: a release that fails now does not undo a
  // hand-over's save (its caller must not answer 503 for it); the lock is released later instead.
  if (landed) {
    await release(id, lockId).catch((error: unknown) => {
      logger.warn(
        `A lock taken without an answer could not be released; tried once more, else it turns stale (${redactSecrets(String(error), [id], error)}).`,
      );
      void release(id, lockId).catch(() => false);
    });
  }
  return landed;
}
