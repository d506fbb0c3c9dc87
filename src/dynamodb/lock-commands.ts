import { UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { num } from './dynamodb-session-record.js';
import { SLIDE_EXPIRY, SLIDE_EXPIRY_NAMES, type RecordAddress } from './record-expressions.js';

/**
 * Takes the lock of `id` under `lockId` in one conditional `UpdateItem`: only on a live, unlocked
 * record, never with a lock id revoked by `settleUnansweredLock`. Its answer holds the record as it
 * was; a contended lock's failure holds the holder's record (no second read).
 */
export function lockCommand(tableName: string, address: RecordAddress, id: string, lockId: string, now: number): UpdateItemCommand {
  return new UpdateItemCommand({
    TableName: tableName,
    Key: address.key(id),
    // The expiry slides when the lock is taken too, so a long request never sees its session expire under it.
    UpdateExpression: `SET #locked = :true, #lockId = :lockId, #lockDate = :now, #flags = :zero, ${SLIDE_EXPIRY}`,
    // A lock call this store gave up on is revoked (`settleUnansweredLock`): its late arrival fails here.
    // A timeout that is not a number would make the slide itself a ValidationException (a plain
    // error, 500 on every request); failing the condition instead reads the record as corrupt
    // (replaced by a new session), at no extra cost (a condition is free).
    ConditionExpression:
      'attribute_exists(#key) AND #expires > :now AND (attribute_not_exists(#locked) OR #locked = :false) ' +
      'AND NOT contains(#abortedLocks, :lockId) ' +
      'AND (attribute_not_exists(#timeoutMs) OR attribute_type(#timeoutMs, :number)) ' +
      'AND (attribute_not_exists(#timeoutSeconds) OR attribute_type(#timeoutSeconds, :number))',
    ExpressionAttributeNames: address.names('key', 'locked', 'lockId', 'lockDate', 'flags', 'abortedLocks', ...SLIDE_EXPIRY_NAMES),
    ExpressionAttributeValues: {
      ':true': { BOOL: true },
      ':false': { BOOL: false },
      ':lockId': { S: lockId },
      ':zero': num(0),
      ':number': { S: 'N' },
      ...address.slideValues(now),
    },
    // The record as it was, so the flags cleared here are reported once, by this call.
    ReturnValues: 'ALL_OLD',
    // The record that failed the condition: a contended lock costs this one call, no second read.
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });
}

/** The parts of a write under a lock that end the holder's hold (see `lockEnd`). */
export interface LockEnd {
  readonly set: string;
  readonly remove: string[];
  readonly condition: string;
  readonly names: Record<string, string>;
  readonly values: Record<string, AttributeValue>;
  readonly returnValues: { ReturnValues?: 'ALL_NEW' };
}

/**
 * How a write under `lockId` ends the holder's hold: the session unlocked, or kept locked (`next`
 * is `lockId`), or, with another `next` (a hand-over), locked again under that id, provided `next` was not revoked (`settleUnansweredLock`).
 * A hand-over reads the record back: what the new holder's first write prunes.
 */
export function lockEnd(address: RecordAddress, lockId: string, next: string | undefined, now: number): LockEnd {
  if (next === lockId) {
    // A mid-request save (`setItemExclusive`): the holder keeps its lock, and its lock date (the
    // lock turns stale when it would have without the save).
    return {
      set: '#locked = :true',
      remove: [],
      condition: '#lockId = :lockId',
      names: address.names('locked', 'lockId'),
      values: { ':true': { BOOL: true }, ':lockId': { S: lockId } },
      returnValues: {},
    };
  }
  if (next === undefined) {
    return {
      set: '#locked = :false',
      remove: ['#lockId'],
      condition: '#lockId = :lockId',
      names: address.names('locked', 'lockId'),
      values: { ':false': { BOOL: false }, ':lockId': { S: lockId } },
      returnValues: {},
    };
  }
  return {
    set: '#locked = :true, #lockId = :next, #lockDate = :lockDate',
    remove: [],
    condition: '#lockId = :lockId AND NOT contains(#abortedLocks, :next)',
    names: address.names('locked', 'lockId', 'lockDate', 'abortedLocks'),
    values: { ':true': { BOOL: true }, ':next': { S: next }, ':lockDate': num(now), ':lockId': { S: lockId } },
    returnValues: { ReturnValues: 'ALL_NEW' },
  };
}
