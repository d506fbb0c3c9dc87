import { createHash } from 'node:crypto';

/**
 * What a user's list of sessions names a session by, instead of its id (a bearer credential): a
 * one-way digest of the id under this module's own tag, 128 bits, base64url. The same on every
 * instance (no secret, no state), never accepted as a cookie or header, and it says nothing of the
 * id it came from. A client may see it; it only acts through `SessionManager`, within its owner.
 */
const HANDLE_TAG = 'nestjs-session-state/session-handle/v1\0';
const HANDLE_PATTERN = /^[A-Za-z0-9_-]{22}$/;

export function sessionHandleOf(id: string): string {
  return createHash('sha256').update(HANDLE_TAG).update(id).digest().subarray(0, 16).toString('base64url');
}

/** Whether `value` has a handle's form (a check before any store call; it proves nothing more). */
export function isWellFormedSessionHandle(value: unknown): value is string {
  return typeof value === 'string' && HANDLE_PATTERN.test(value);
}
