import { SessionStateStoreMisconfiguredError, SessionStateStoreUnavailableError } from '../errors/session-state.errors.js';
import type { RedisSessionClient } from './redis-session-state-store.options.js';

/** The client's events, when it has them (node-redis does; the ioredis adapter has `on` only). */
interface Events {
  on?(event: 'error', listener: (error: unknown) => void): unknown;
  off?(event: 'error', listener: (error: unknown) => void): unknown;
}

/** Error replies that pass by themselves (a server starting or failing over): node-redis's retries are right there. */
const TRANSIENT = new Set(['LOADING', 'BUSY', 'MASTERDOWN', 'TRYAGAIN', 'CLUSTERDOWN']);

/**
 * Connects `client` at startup, where node-redis would retry forever: a server that refuses the
 * connection's configuration (WRONGPASS, NOAUTH, NOPERM, a SELECT refused: any error reply to the
 * handshake but the transient ones) fails it at once, an unreachable server after `timeoutMs`.
 * Either way the client is destroyed, so that nothing keeps retrying behind a failed startup.
 * Messages carry the Redis error code or the socket error, never the URL (it may hold a password).
 */
export async function connectAtStartup(client: RedisSessionClient, timeoutMs: number): Promise<void> {
  const events = client as Events;
  let last: unknown;
  let fail!: (error: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const onError = (error: unknown) => {
    last = error;
    if (refusal(error)) fail(refused(error));
  };
  events.on?.('error', onError);
  const timer = setTimeout(() => fail(unreachable(last, timeoutMs)), timeoutMs);
  const connecting = client.connect();
  connecting.catch(() => undefined);
  try {
    await Promise.race([
      connecting.catch((error: unknown) => Promise.reject(refusal(error) ? refused(error) : unreachable(last ?? error, timeoutMs, true))),
      failed,
    ]);
  } catch (error) {
    try {
      client.destroy();
    } catch {
      // Already closed by node-redis (its reconnect strategy gave up): nothing retries.
    }
    throw error;
  } finally {
    clearTimeout(timer);
    events.off?.('error', onError);
  }
}

/** An error reply from the server (not a socket error), and not one that passes by itself. */
function refusal(error: unknown): boolean {
  if (!(error instanceof Error) || !/ErrorReply$|SimpleError|BlobError|ReplyError/.test(error.constructor.name)) return false;
  return !TRANSIENT.has(/^[A-Z]+/.exec(error.message)?.[0] ?? '');
}

function refused(error: unknown): SessionStateStoreMisconfiguredError {
  const code = /^[A-Z]+/.exec((error as Error).message)?.[0] ?? 'ERR';
  return new SessionStateStoreMisconfiguredError(
    `Redis refused the store's connection (${code}: ${(error as Error).message.slice(code.length).trim()}): check the user, ` +
      "password and database of url/clientOptions, and the user's ACL (docs/REDIS.md).",
    { cause: error },
  );
}

function unreachable(error: unknown, timeoutMs: number, early = false): SessionStateStoreUnavailableError {
  // Socket errors name the address (`connect ECONNREFUSED 10.0.0.5:6379`); anything shaped like a URL's credentials is cut.
  const detail = error instanceof Error ? ` (${error.constructor.name}: ${error.message.replace(/\/\/[^@\s/]*@/g, '//')})` : '';
  const what = early ? 'Redis could not be reached' : `Redis was not reachable within connectTimeoutMs (${timeoutMs} ms)`;
  return new SessionStateStoreUnavailableError(`${what}${detail}.`, { cause: error });
}
