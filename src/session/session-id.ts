import { createHash, randomBytes } from 'node:crypto';

/** 24 bytes = 192 bits from the CSPRNG, base64url: 32 URL-safe characters. */
const ID_BYTES = 24;
const ID_PATTERN = /^[A-Za-z0-9_-]{32}$/;

export function generateSessionId(): string {
  return randomBytes(ID_BYTES).toString('base64url');
}

export function isWellFormedSessionId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** What a log line may say of a session: a short hash, never the id (which is a bearer credential). */
export function redactSessionId(id: string): string {
  return `#${createHash('sha256').update(id).digest('hex').slice(0, 10)}`;
}
