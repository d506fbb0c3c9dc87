import { SessionStateStoreUnavailableError } from '../errors/session-state.errors.js';
import type { RedisSessionClient } from './redis-session-state-store.options.js';
import type { RedisScript } from './redis-scripts.js';
import { RedisNotConnectedError, toStoreError } from './redis-errors.js';

/**
 * Bulk strings as Buffers: gzip'd items are bytes, not UTF-8. (36 is node-redis's
 * `RESP_TYPES.BLOB_STRING`, RESP's `$`: a literal, so that this file loads nothing of `redis`.)
 */
const TYPE_MAPPING = { 36: Buffer };

/** What a command of the store sends: strings, or bytes for compressed items. */
export type RedisArg = string | Buffer;

/** A reply as the store reads it: bulk strings as Buffers, integers as numbers, nil as null. */
export type RedisReply = Buffer | number | null | RedisReply[];

/**
 * The store's commands on a node-redis client or cluster, each bounded by `requestTimeoutMs`
 * (queued while disconnected, sent, or waiting for the reply: node-redis's `timeout` with
 * `rejectInFlight`, and a timer of its own for what happens before node-redis queues it, such as
 * a cluster's slot discovery), with errors mapped to the module's (`toStoreError`).
 *
 * Scripts run by `EVALSHA` (the SHA1 computed here); a server that does not know the script yet
 * (`NOSCRIPT`: new, restarted, or a cluster node met for the first time) gets it once by `EVAL`,
 * which also caches it there. Not node-redis's `defineScript`: that needs the scripts at
 * `createClient`, and the store also runs on a client the application made.
 */
export class RedisCommands {
  private readonly cluster: boolean;
  private readonly options: { timeout: number; rejectInFlight: boolean; typeMapping: typeof TYPE_MAPPING };

  constructor(
    private readonly client: RedisSessionClient,
    private readonly requestTimeoutMs: number,
  ) {
    this.cluster = 'nodeByAddress' in client;
    this.options = { timeout: requestTimeoutMs, rejectInFlight: true, typeMapping: TYPE_MAPPING };
  }

  /**
   * Runs `script` on `key` (the slot it runs in); `args` are its ARGV. `settle`: a command sent
   * behind one that got no answer: by `EVAL` (a NOSCRIPT answer would come too late to resend it),
   * and while reconnecting it waits for the connection (within the bound) instead of failing at once.
   */
  async script(script: RedisScript, key: string, args: RedisArg[], settle = false): Promise<RedisReply> {
    if (!settle) {
      try {
        return await this.send(key, ['EVALSHA', script.sha1, '1', key, ...args], false);
      } catch (error) {
        if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw toStoreError(error, script.name, this.requestTimeoutMs);
      }
    }
    try {
      return await this.send(key, ['EVAL', script.source, '1', key, ...args], settle);
    } catch (error) {
      throw toStoreError(error, script.name, this.requestTimeoutMs);
    }
  }

  /** A plain command on `key`. */
  async command(key: string, args: RedisArg[], operation: string): Promise<RedisReply> {
    try {
      return await this.send(key, args);
    } catch (error) {
      throw toStoreError(error, operation, this.requestTimeoutMs);
    }
  }

  private send(key: string, args: RedisArg[], queue = false): Promise<RedisReply> {
    // Reconnecting: fail now, not after a wait per request. While Redis is down, each of a session's
    // queued requests would otherwise wait out the timeout in turn.
    if (!queue && !this.client.isReady) return Promise.reject(new RedisNotConnectedError());
    const sent = this.cluster
      ? (this.client as { sendCommand(k: string, ro: boolean, a: RedisArg[], o: object): Promise<RedisReply> }).sendCommand(
          key,
          false,
          args,
          this.options,
        )
      : (this.client as { sendCommand(a: RedisArg[], o: object): Promise<RedisReply> }).sendCommand(args, this.options);
    return bounded(sent, this.requestTimeoutMs + 100);
  }
}

/** `promise`, or after `ms` a `SessionStateStoreUnavailableError` (its late answer is dropped). */
function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SessionStateStoreUnavailableError(`Redis did not answer within ${ms} ms.`)), ms);
  });
  promise.catch(() => undefined);
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
