import { randomUUID } from 'node:crypto';

/**
 * Lock ids carry the time they were made (`{epoch ms, base 36}.{uuid}`), so the store can tell
 * when a given-up lock call can no longer reach DynamoDB and its revocation can be forgotten.
 */
export function newLockId(now: number): string {
  return `${Math.max(0, Math.floor(now)).toString(36)}.${randomUUID()}`;
}

/** When `lockId` was made, epoch ms; `NaN` for an id not made by `newLockId`. */
export function lockIdTime(lockId: string): number {
  const dot = lockId.indexOf('.');
  return dot > 0 ? parseInt(lockId.slice(0, dot), 36) : Number.NaN;
}
