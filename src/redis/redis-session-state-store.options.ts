import type { RedisClientOptions } from 'redis';

/**
 * A node-redis client (`createClient`) or cluster client (`createCluster`) of `redis` 5 or 6, with
 * any modules, scripts or RESP version: the store sends its own commands (`sendCommand`) and uses
 * none of the client's extensions, so only this much of it is required.
 */
export interface RedisSessionClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  /** For the store's subscriber connection. */
  duplicate(): unknown;
  sendCommand(...args: never[]): Promise<unknown>;
}

/** Options of `RedisSessionStateStore`. Give `client`, or `url`/`clientOptions` (then the store owns the client). */
export interface RedisSessionStateStoreOptions {
  /**
   * A client the application already has: a node-redis client or cluster. The store never closes
   * it. Not connected yet: the store connects it in `init()` (Nest's `onModuleInit`).
   */
  client?: RedisSessionClient;

  /** Without `client`: the URL of the client the store builds (`redis://host:6379`). The store owns and closes it. */
  url?: string;

  /** Without `client`: more options of the client the store builds (`url` wins over `clientOptions.url`). */
  clientOptions?: RedisClientOptions;

  /**
   * Start of every key and channel of the store. Default `'sess:'`. A session's keys are
   * `{keyPrefix}{application}:{<id>}` (the braces are a hash tag: one slot per session on a cluster).
   */
  keyPrefix?: string;

  /** A name per application, so several applications can share one Redis. Default: none. */
  application?: string;

  /**
   * Seconds Redis keeps a session key at least beyond its expiry (`PEXPIRE` = timeout + this, plus
   * up to a quarter of the timeout: the TTL is renewed only when a slide passes it). Expiry
   * itself is decided on every call from the stored expiry, so instances whose clocks differ by
   * less than this agree. Default `60`.
   */
  ttlExtraSeconds?: number;

  /**
   * gzip (node:zlib, off the event loop) the serialized items above `thresholdBytes` (UTF-8)
   * when that makes them smaller. `false` disables it. Default `{ thresholdBytes: 8192 }`.
   */
  compression?: { thresholdBytes?: number } | false;

  /**
   * Largest serialized items (after compression) the store writes; larger: `SessionStateTooLargeError`, nothing written. Default `1_000_000`.
   * Uncompressed, items are bounded by 32 × this: a read stops decompressing there (`SessionStateCorruptError`), and a write refuses more.
   */
  maxItemBytes?: number;

  /**
   * Bound on each Redis command, in ms (queued while disconnected, sent, waiting for the answer):
   * when it passes, `SessionStateStoreUnavailableError`. A lock taken by a command given up on
   * this way is released right behind it. Default `2000`.
   */
  requestTimeoutMs?: number;

  /**
   * Bound on connecting at startup (`init()`, for a client the store makes or one passed in not
   * connected yet), in ms: Redis still unreachable then fails startup with
   * `SessionStateStoreUnavailableError` instead of node-redis retrying forever. A refusal (WRONGPASS,
   * NOPERM, a database refused) fails it at once with `SessionStateStoreMisconfiguredError`. Either
   * way the store destroys the client it was connecting. Default `10000`.
   */
  connectTimeoutMs?: number;

  /**
   * Waiters for a lock held by another instance are woken by the release, published on the
   * session's (sharded) channel. A missed message costs at most this pause: the waiter then checks
   * the lock itself. Default `1000` ms (with jitter: between half of it and all of it). `false`:
   * no subscription, waiters poll at the module's `lockWait` pace.
   */
  releaseNotifications?: { fallbackPollMs?: number } | false;

  /**
   * The owner indexes of sign-out-everywhere (and `maxSessionsPerOwner`'s books) have no TTL, so that
   * no `volatile-*` eviction policy can evict them while a session of their owner lives; the store
   * deletes those no session needs any more by a sweep every `intervalMs` (jittered: 0.5–1.5 × it;
   * cheap when nothing is due, safe beside other instances' sweeps; an unref'd timer, stopped by
   * `close()`). Default `{ intervalMs: 60000 }`. `false`: this store does not sweep (another
   * instance's store on the same Redis and prefix must, or the owners' keys of those gone stay).
   */
  ownerSweep?: { intervalMs?: number } | false;

  /** Clock in epoch ms; for tests that need to move time. Default `Date.now`. */
  clock?: () => number;
}
