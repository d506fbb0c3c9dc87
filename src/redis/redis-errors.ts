import { SessionStateCorruptError, SessionStateStoreMisconfiguredError, SessionStateStoreUnavailableError } from '../errors/session-state.errors.js';

/** A stored session that cannot be read. Messages name the defect, never the session id. */
export function corruptRecord(defect: string, cause?: unknown): SessionStateCorruptError {
  const message = `A stored Redis session record is corrupt: ${defect}.`;
  return new SessionStateCorruptError(message, cause === undefined ? undefined : { cause });
}

/** Redis error codes that mean the connection's user may not do this: the fix is in the ACL. */
const PERMISSION_CODES = new Set(['NOPERM', 'NOAUTH', 'WRONGPASS']);

/**
 * Maps what a Redis command threw to the module's errors: another type of value at a session's
 * key is a corrupt record; an ACL refusal is `SessionStateStoreMisconfiguredError` (with the
 * commands the store needs); anything else (no connection, a timeout, OOM, CLUSTERDOWN, LOADING,
 * a failover) is `SessionStateStoreUnavailableError`. Messages carry the Redis error code, never
 * a key (keys hold session ids); the cause is attached.
 */
export function toStoreError(error: unknown, operation: string, requestTimeoutMs: number): Error {
  if (error instanceof SessionStateCorruptError || error instanceof SessionStateStoreUnavailableError) return error;
  const name = errorClass(error);
  const message = String((error as Error | null)?.message ?? '');
  // A command a script runs, refused by the ACL: Redis 7.0 answers `ERR The user executing the script can't run
  // this command …` (or `can't access … keys/channels`), naming no command: reported as a NOPERM.
  const inScript = /user executing the script can't/i.test(message);
  const code = inScript ? 'NOPERM' : (/^[A-Z]{3,}\b/.exec(message)?.[0] ?? (/\b(WRONGTYPE|NOPERM)\b/.exec(message)?.[1] || undefined));
  if (code === 'WRONGTYPE') return corruptRecord('its key holds another type of value', error);
  if (code && PERMISSION_CODES.has(code)) {
    return new SessionStateStoreMisconfiguredError(
      `Redis refused ${operation} (${code}${code === 'NOPERM' ? `: ${missingGrant(message)}` : ''}): the connection's user needs ` +
        'EVALSHA, EVAL, HMGET, HSET, HDEL, DEL, PEXPIRE, PTTL, TYPE, PERSIST, ZADD, ZREM, ZSCORE, ZCARD, ZRANGE, ZRANGEBYSCORE, ' +
        'ZREMRANGEBYSCORE, SMEMBERS, SREM, SPUBLISH, SSUBSCRIBE, SUNSUBSCRIBE ' +
        '(PUBLISH, SUBSCRIBE on Redis < 7), PING, HELLO, on the keys and channels under the keyPrefix (docs/REDIS.md, "ACL").',
      { cause: error },
    );
  }
  if (name.startsWith('Timeout')) {
    return new SessionStateStoreUnavailableError(`Redis ${operation} did not complete within ${requestTimeoutMs} ms.`, { cause: error });
  }
  return new SessionStateStoreUnavailableError(`Redis ${operation} failed (${code ?? name}).`, { cause: error });
}

/**
 * What a NOPERM refused, and what grants it, from Redis's message ("… to run the 'evalsha'
 * command", "… to access one of the keys …", "… one of the channels …"; a script's inner command
 * is named the same way). Scripts (EVALSHA, EVAL) are the ACL category `@scripting`.
 */
function missingGrant(message: string): string {
  const command = /run the '([^']+)' command/i.exec(message)?.[1]?.toLowerCase();
  if (command === 'evalsha' || command === 'eval') return `'${command}' is refused: grant +evalsha +eval (ACL category @scripting)`;
  if (command) return `'${command}' is refused: grant +${command}`;
  if (/user executing the script can't run/i.test(message))
    return 'a command a script runs is refused (Redis does not say which; the startup check names it)';
  if (/\bkeys?\b/i.test(message)) return 'a key under the keyPrefix is refused: grant ~<keyPrefix>*';
  if (/\bchannels?\b/i.test(message)) return 'a channel under the keyPrefix is refused: grant &<keyPrefix>*';
  return 'refused';
}

/** Refused before sending: the client is reconnecting (see `RedisCommands`). */
export class RedisNotConnectedError extends SessionStateStoreUnavailableError {
  constructor() {
    super('Redis is not connected (reconnecting).');
  }
}

/** A command that may have run on the server although its answer never came (sent, then a timeout or a lost connection). */
export function mayHaveRun(error: unknown): boolean {
  if (error instanceof RedisNotConnectedError) return false;
  const cause = error instanceof SessionStateStoreUnavailableError ? (error.cause ?? error) : error;
  return !NEVER_SENT.has(errorClass(cause)) && !(cause instanceof Error && /ErrorReply$|SimpleError|BlobError/.test(errorClass(cause)));
}

/** Errors of a command node-redis never sent. */
const NEVER_SENT = new Set(['ClientOfflineError', 'ClientClosedError', 'TimeoutError', 'AbortError']);

/** node-redis's error classes keep `name` 'Error': their class tells them apart. */
function errorClass(error: unknown): string {
  return (error as object | null)?.constructor?.name ?? 'Error';
}
