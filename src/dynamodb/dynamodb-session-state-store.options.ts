import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';

/** Options of `DynamoDBSessionStateStore`. Every field is optional. */
export interface DynamoDBSessionStateStoreOptions {
  /** Table holding the sessions. Default `'nestjs-session-state'`. */
  tableName?: string;

  /**
   * Key prefix, so several applications can share one table: an item's key is
   * `"{application}-{id}"`. Default: none (the key is the session id); `''` means none.
   */
  application?: string;

  /**
   * At `init()`, create the table when it does not exist (on-demand billing, one string hash key
   * named `keyAttribute`, and the sparse `Owner-index` that `revokeOwner` queries), wait until it
   * is ACTIVE, and enable TTL on `ttlAttribute`.
   * Default `false`: `init()` only checks, with one `DescribeTable`, that the table exists with
   * the expected key schema (in production, create the table with your infrastructure code).
   */
  createIfNotExists?: boolean;

  /** A ready client. The store uses it as is and never destroys it. */
  client?: DynamoDBClient;

  /**
   * Configuration of the client the store builds when `client` is not given (e.g. `endpoint` and
   * `region` for DynamoDB Local). The store owns that client and destroys it at shutdown.
   * Default `{}` (the SDK's default region and credential chain).
   */
  clientConfig?: DynamoDBClientConfig;

  /** Name of the table's string hash key. Default `'SessionId'`. */
  keyAttribute?: string;

  /** Name of the TTL attribute (epoch **seconds**) DynamoDB deletes expired items by. Default `'TTL'`. */
  ttlAttribute?: string;

  /**
   * Seconds added to an item's expiry for its TTL attribute: `TTL = ceil(Expires / 1000) + ttlExtraSeconds`.
   * A margin, so DynamoDB never deletes an item that an instance whose clock runs a little late
   * still considers live; expiry itself is decided by `Expires` on every read. Default `300`.
   */
  ttlExtraSeconds?: number;

  /**
   * Strongly consistent reads for `getItem`, so a session reads its own writes even when the next
   * request lands on another instance. Default `true`. (Writes are always consistent.)
   */
  consistentReads?: boolean;

  /**
   * gzip (node:zlib) the serialized items when they exceed `thresholdBytes` (UTF-8 bytes) and
   * compression makes them smaller; reads decompress transparently. `false` disables it.
   * Default `{ thresholdBytes: 8192 }`.
   */
  compression?: { thresholdBytes?: number } | false;

  /**
   * Largest item the store writes, in bytes, estimated conservatively over the key and all
   * attributes (after compression): the data item of a large session. A larger session throws `SessionStateTooLargeError` before
   * any write, so the stored session stays intact. Default `400_000`, just under DynamoDB's
   * 400 KB (409 600 bytes) item limit; at most 409 600.
   */
  maxItemBytes?: number;

  /**
   * Bound on each DynamoDB call, SDK retries included, in ms; when it passes the call is aborted
   * and `SessionStateStoreUnavailableError` thrown. A lock call given up on this way is first
   * settled (revoked, and released if it landed): up to two more calls, each with this bound.
   * Default `5000`.
   */
  requestTimeoutMs?: number;

  /**
   * SDK attempts per call (first try included) for the client the store builds. Default
   * `clientConfig.maxAttempts`, else `3`. Ignored with `client`.
   */
  maxAttempts?: number;

  /** Clock in epoch ms; for tests that need to move time. Default `Date.now`. */
  clock?: () => number;
}
