import { SessionStateStoreUnavailableError } from '../errors/session-state.errors.js';
import type { RedisSessionClient } from './redis-session-state-store.options.js';
import type { RedisScript } from './redis-scripts.js';
import { RedisNotConnectedError, toStoreError } from './redis-errors.js';
import { withinTime } from '../store/within-time.js';

/** Marks a client whose commands have no timeout of their own (`fromIoredis`): the store bounds them itself. */
export const UNTIMED_COMMANDS = Symbol('nestjs-session-state: untimed commands');

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
 * `rejectInFlight`), with errors mapped to the module's (`toStoreError`). A timer of the store's own
 * only where node-redis's does not cover it all: a cluster (its slot discovery comes before the
 * queue) and a client whose commands have no timeout (`fromIoredis`). Not on a standalone client:
 * a second timer per command was a measurable part of a request's cost.
 *
 * Scripts run by `EVALSHA` (the SHA1 computed here); a server that does not know the script yet
 * (`NOSCRIPT`: new, restarted, or a cluster node met for the first time) gets it once by `EVAL`,
 * which also caches it there. Not node-redis's `defineScript`: that needs the scripts at
 * `createClient`, and the store also runs on a client the application made.
 */
export class RedisCommands {
  private readonly cluster: boolean;
  /** The store's own timer per command (see above), ms beyond node-redis's; `null`: none. */
  private readonly ownBoundMs: number | null;
  private readonly options: { timeout: number; rejectInFlight: boolean; typeMapping: typeof TYPE_MAPPING };

  constructor(
    private readonly client: RedisSessionClient,
    private readonly requestTimeoutMs: number,
  ) {
    this.cluster = 'nodeByAddress' in client;
    this.ownBoundMs = this.cluster || UNTIMED_COMMANDS in client ? requestTimeoutMs + 100 : null;
    // One options object for every command (node-redis only reads it).
    this.options = { timeout: requestTimeoutMs, rejectInFlight: true, typeMapping: TYPE_MAPPING };
  }

  /**
   * Runs `script` on `key` (the slot it runs in; `moreKeys` in the same slot); `args` are its ARGV. `settle`: a command sent
   * behind one that got no answer: by `EVAL` (a NOSCRIPT answer would come too late to resend it),
   * and while reconnecting it waits for the connection (within the bound) instead of failing at once.
   */
  script(script: RedisScript, key: string, args: RedisArg[], settle = false, moreKeys: readonly string[] = []): Promise<RedisReply> {
    const keys = [String(1 + moreKeys.length), key, ...moreKeys];
    if (settle) return this.evaluate(script, keys, args, true);
    return this.send(key, ['EVALSHA', script.sha1, ...keys, ...args], false).catch((error: unknown) => {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw toStoreError(error, script.name, this.requestTimeoutMs);
      return this.evaluate(script, keys, args, false);
    });
  }

  /** A plain command on `key`. */
  command(key: string, args: RedisArg[], operation: string): Promise<RedisReply> {
    return this.send(key, args).catch((error: unknown) => {
      throw toStoreError(error, operation, this.requestTimeoutMs);
    });
  }

  /** `keys`: the count, then the keys (the first is the slot `send` routes by). */
  private evaluate(script: RedisScript, keys: string[], args: RedisArg[], settle: boolean): Promise<RedisReply> {
    return this.send(keys[1]!, ['EVAL', script.source, ...keys, ...args], settle).catch((error: unknown) => {
      throw toStoreError(error, script.name, this.requestTimeoutMs);
    });
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
    return this.ownBoundMs === null
      ? sent
      : withinTime(sent, this.ownBoundMs, () => {
          throw new SessionStateStoreUnavailableError(`Redis did not answer within ${this.ownBoundMs} ms.`);
        });
  }
}
