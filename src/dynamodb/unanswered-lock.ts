import { UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from '@nestjs/common';
import { redactSecrets } from '../observability/store-failure-log.js';
import type { BoundedCall } from './bounded-call.js';
import { isConditionFailure, mayHaveLanded } from './dynamodb-errors.js';
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
  /** Whether the store was destroyed (a revocation still unanswered is then given up). */
  readonly closed: () => boolean;
}

/**
 * How long a revocation that got no answer is sent again in the background: at least the default
 * `executionTimeout` (110 s), after which a lock that landed unseen is broken as stale anyway.
 */
export const UNANSWERED_REVOCATION_RETRY_MS = 120_000;
/** Its backoff: doubling from the first delay, jittered, capped. */
const RETRY_FIRST_DELAY_MS = 100;
const RETRY_MAX_DELAY_MS = 5_000;

/**
 * Makes the outcome of a lock call that got no answer certain before the request gives up on it:
 * adds its lock id to the record's `AbortedLocks`, so the call, should it still reach DynamoDB,
 * fails its condition; and if it had already landed (the revocation's answer shows its lock id),
 * releases it. Only the revocation's answer says whether to release: a release sent without it
 * could reach DynamoDB before the lock call still in flight, find nothing, and leave the lock
 * behind. When the revocation gets no answer either, it is sent again in the background (it is
 * idempotent: an `ADD` to a set) with backoff, until one is answered or for
 * `UNANSWERED_REVOCATION_RETRY_MS`; the request is not held up by that.
 * Answers whether the unanswered call had landed (its lock then released here).
 */
export async function settleUnansweredLock(settings: UnansweredLockSettings, id: string, lockId: string): Promise<boolean> {
  const { logger } = settings;
  let landed: boolean | undefined;
  try {
    landed = await revoke(settings, id, lockId);
  } catch (error) {
    logger.warn(
      `A lock call got no answer, nor did its revocation; the revocation is sent again in the background, and the lock released if it was taken (${redactSecrets(String(error), [id], error)}).`,
    );
    void settleInBackground(settings, id, lockId);
    return false;
  }
  if (landed) await releaseLanded(settings, id, lockId);
  return landed;
}

/** Sends the revocation of `lockId`; answers whether its lock had landed (false: the record is absent). */
async function revoke(settings: UnansweredLockSettings, id: string, lockId: string): Promise<boolean> {
  const { client, call, tableName, address } = settings;
  const command = new UpdateItemCommand({
    TableName: tableName,
    Key: address.key(id),
    UpdateExpression: 'ADD #abortedLocks :lockIds',
    // Never creates a record for an absent id (a lock cannot land on one).
    ConditionExpression: 'attribute_exists(#key)',
    ExpressionAttributeNames: address.names('key', 'abortedLocks'),
    ExpressionAttributeValues: { ':lockIds': { SS: [lockId] } },
    ReturnValues: 'ALL_NEW',
  });
  try {
    const { Attributes } = await call('UpdateItem', (options) => client.send(command, options));
    return Attributes?.[Attr.lockId]?.S === lockId;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** The revocation sent again until answered (see `settleUnansweredLock`), then the lock released if it had landed. */
async function settleInBackground(settings: UnansweredLockSettings, id: string, lockId: string): Promise<void> {
  const outcome = await untilAnswered(settings, () => revoke(settings, id, lockId));
  if ('answer' in outcome) {
    if (outcome.answer) await releaseLanded(settings, id, lockId);
    return;
  }
  if (settings.closed()) return;
  settings.logger.warn(
    `A lock call that got no answer could not be settled: its revocation got no answer either; the lock, if taken, is broken as stale after executionTimeout (${redactSecrets(String(outcome.error), [id], outcome.error)}).`,
  );
}

/**
 * Releases a lock the revocation showed had landed. Whether it landed is the revocation's answer
 * alone: a release that fails now does not undo a hand-over's save (its caller must not answer 503
 * for it); one that gets no answer is sent again in the background like the revocation (fenced by
 * the lock id like every release, so a repeat is harmless).
 */
async function releaseLanded(settings: UnansweredLockSettings, id: string, lockId: string): Promise<void> {
  const { logger, release, closed } = settings;
  try {
    await release(id, lockId);
    return;
  } catch (error) {
    const again = mayHaveLanded(error);
    logger.warn(
      `A lock taken without an answer could not be released${again ? '; the release is sent again in the background' : ''}, else it turns stale (${redactSecrets(String(error), [id], error)}).`,
    );
    if (!again) return;
  }
  void untilAnswered(settings, () => release(id, lockId)).then((outcome) => {
    if ('error' in outcome && !closed()) {
      logger.warn(
        `A lock taken without an answer could not be released; it is broken as stale after executionTimeout (${redactSecrets(String(outcome.error), [id], outcome.error)}).`,
      );
    }
  });
}

/**
 * Sends `send` again, with jittered backoff (doubling from 100 ms, capped at 5 s), until it is
 * answered, the store closes, an error says it was refused rather than unanswered (sending it again
 * will not help), or `UNANSWERED_REVOCATION_RETRY_MS` has passed. Never throws.
 */
async function untilAnswered<T>(settings: UnansweredLockSettings, send: () => Promise<T>): Promise<{ answer: T } | { error: unknown }> {
  const giveUpAt = Date.now() + UNANSWERED_REVOCATION_RETRY_MS;
  let delay = RETRY_FIRST_DELAY_MS;
  let error: unknown;
  while (!settings.closed() && Date.now() + delay < giveUpAt) {
    await pause(delay * (0.5 + Math.random() / 2));
    delay = Math.min(delay * 2, RETRY_MAX_DELAY_MS);
    if (settings.closed()) break;
    try {
      return { answer: await send() };
    } catch (failure) {
      error = failure;
      if (!mayHaveLanded(failure)) break;
    }
  }
  return { error };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
