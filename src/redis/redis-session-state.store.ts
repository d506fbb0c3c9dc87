import { randomBytes } from 'node:crypto';
import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createClient } from 'redis';
import { SessionStateCorruptError, SessionStateLockLostError, type SessionStateLockLostReason } from '../errors/session-state.errors.js';
import {
  SESSION_ABSENT,
  SessionStateActions,
  SessionStateStore,
  type RemoveItemOptions,
  type SessionStateAcquired,
  type SessionStateAcquisition,
  type SessionStateLocked,
  type SessionStateRead,
  type SessionStateReleaseWatch,
  type SessionStateStoreData,
  type SessionStateStoreHealth,
} from '../store/session-state-store.js';
import { RedisCommands, type RedisReply } from './redis-commands.js';
import { corruptRecord, mayHaveRun } from './redis-errors.js';
import { RedisItemsCodec } from './redis-items-codec.js';
import { RedisReleaseWatches } from './redis-release-watches.js';
import { CREATE_UNINITIALIZED, INDEX_OWNER, LOCK, READ, RELEASE, REMOVE, RESET, REVOKE, SAVE } from './redis-scripts.js';
import { redisStoreSettings, type RedisStoreSettings } from './redis-store-settings.js';
import type { RedisSessionClient, RedisSessionStateStoreOptions } from './redis-session-state-store.options.js';

/*
 * Design (for docs/REDIS.md).
 *
 * Keys (`P` = keyPrefix + (application + ':' when set)), a session's in one slot by its `{id}` tag:
 *   P{<id>}             hash: the session (fields in redis-scripts.ts); PEXPIRE = timeout + ttlExtraSeconds
 *   P{<id>}:r           channel: a release of its lock (SPUBLISH, in the session's slot)
 *   Powner:{<owner>}    set: the owner's session ids (another slot on a cluster)
 *
 * Round trips per contract call: each is one script by EVALSHA (EVAL once per server on NOSCRIPT),
 * `probeLock` one HMGET of four small fields. getItem 1, getItemExclusive 1 (contended: 1, the
 * holder's lock only), setAndReleaseItemExclusive 1, releaseItemExclusive 1, handOverItemExclusive 1
 * (the next holder's lock taken in the same script), removeItem 1, resetItemTimeout 1. The owner
 * index costs one more (a script on the owner's set) when a session gets an owner, and then at
 * most once per `timeout` of activity, when the session's expiry passes the index's horizon
 * (field `u`); removing an owned session sends a best-effort SREM. revokeOwner: SMEMBERS, a script
 * per session (in parallel), one SREM. Stale index entries (expired sessions) are removed by
 * revokeOwner and vanish with the set, whose TTL outlives its newest session by one timeout.
 *
 * Lock cost does not depend on the session's size: the lock is two small fields; a contended
 * lock, a probe, a release and an unchanged hand-over never read or write the items.
 *
 * Expiry: the hash's `e` (the store's clock) decides on every call, so an expired session reads
 * absent even before Redis drops the key. Slid by taking the lock, releasing it, saving, and
 * `resetItemTimeout` (which the lifecycle sends for read-only requests only once over half the
 * timeout has passed): a read costs no write.
 *
 * Waiters: a waiter on another instance watches the session's channel (one subscriber connection
 * per store, a channel per session only while someone of this process waits) and retries the lock
 * when the release is published; it also checks every `fallbackPollMs` (jittered), so a lost
 * message costs latency only. A waiting request costs, per second, about one HMGET per
 * fallback pause plus one lock attempt per release it is woken by.
 *
 * ACL: EVALSHA, EVAL, HMGET, SMEMBERS, SREM, PING, and for the subscriber SSUBSCRIBE, SUNSUBSCRIBE
 * (PUBLISH, SUBSCRIBE, UNSUBSCRIBE on Redis < 7); the scripts call HMGET, HSET, HDEL, DEL, PEXPIRE,
 * SPUBLISH (PUBLISH), SADD, PTTL, so the user needs those too, on keys `P*` and channels `P*`:
 * e.g. `user app on >pw ~sess:* &sess:* +evalsha +eval +hmget +hset +hdel +del +pexpire +pttl +sadd +srem +smembers +spublish +publish +ssubscribe +sunsubscribe +ping`.
 *
 * A Redis restart without persistence (no RDB/AOF) loses every session: users are signed out,
 * and a request holding a lock then fails its save with `item_gone` (409) instead of writing into
 * an empty server. Locks never outlive the data. With AOF `appendfsync everysec`, up to a second
 * of saves can be lost on a crash. A command given up on by timeout after it was sent may still run:
 * a lock it took is released right behind it on the same connection.
 */

/** The store's lock ids: 128 random bits, URL-safe. */
function newLockId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Sessions in Redis (standalone or Cluster) through node-redis: each contract call one Lua script,
 * every write that ends a lock fenced by the lock id, expiry by the stored expiry and Redis TTL,
 * and waiters of other instances woken by the release (sharded pub/sub) rather than polling.
 * See the design note above.
 */
export class RedisSessionStateStore extends SessionStateStore implements OnModuleInit, OnApplicationShutdown {
  readonly client: RedisSessionClient;
  private readonly logger = new Logger(RedisSessionStateStore.name);
  private readonly ownsClient: boolean;
  private readonly settings: RedisStoreSettings;
  private readonly commands: RedisCommands;
  private readonly codec: RedisItemsCodec;
  private readonly watches: RedisReleaseWatches | undefined;
  private readonly clock: () => number;
  private readonly extraMs: string;
  private ready: Promise<void> | undefined;
  private closed = false;

  constructor(options: RedisSessionStateStoreOptions = {}) {
    super();
    this.settings = redisStoreSettings(options);
    this.ownsClient = !options.client;
    this.client = options.client ?? this.buildClient(options);
    this.clock = this.settings.clock;
    this.extraMs = String(this.settings.ttlExtraSeconds * 1000);
    this.commands = new RedisCommands(this.client, this.settings.requestTimeoutMs);
    this.codec = new RedisItemsCodec(this.settings.compressionThresholdBytes, this.settings.maxItemBytes);
    const { fallbackPollMs, requestTimeoutMs } = this.settings;
    this.watches = fallbackPollMs === null ? undefined : new RedisReleaseWatches(this.client, fallbackPollMs, requestTimeoutMs, this.logger);
  }

  /** Connects the client if it is not open yet (the store's own, or one given unconnected). Idempotent. */
  init(): Promise<void> {
    this.ready ??= (async () => {
      if (!this.client.isOpen) await this.client.connect();
    })().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  async onModuleInit(): Promise<void> {
    await this.init();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  /** Closes the subscriber connection, and the client if the store made it (a client passed in belongs to the caller). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.watches?.close();
    if (this.ownsClient && this.client.isOpen) this.client.destroy();
  }

  async getItem(id: string): Promise<SessionStateRead> {
    const now = this.clock();
    const reply = list(await this.commands.script(READ, this.key(id), [String(now), this.extraMs, this.channel(id)]));
    switch (code(reply)) {
      case 'A':
        return SESSION_ABSENT;
      case 'L':
        return lockedAnswer(reply, now);
      case 'D': {
        const [, expires, timeout, flags, owner, plain, compressed] = reply;
        const item = await this.item(timeout, owner, plain, compressed);
        return { kind: 'loaded', item, actions: actionsOf(flags), expires: integer(expires) };
      }
      default:
        throw corrupt(reply);
    }
  }

  /** Four small fields (format, expiry, lock id, lock date): never the items. */
  override async probeLock(id: string): Promise<SessionStateLocked | null> {
    const now = this.clock();
    const [version, expires, lockId, lockDate] = list(
      await this.commands.command(this.key(id), ['HMGET', this.key(id), 'v', 'e', 'l', 'd'], 'probeLock'),
    );
    if (version === null || !(integer(expires) > now) || lockId === null) return null;
    return lockedAnswer([Buffer.from('L'), lockId, lockDate, expires], now);
  }

  async getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    const now = this.clock();
    const lockId = newLockId();
    let reply: RedisReply[];
    try {
      reply = list(await this.commands.script(LOCK, this.key(id), [String(now), this.extraMs, lockId, this.channel(id)]));
    } catch (error) {
      await this.settleLock(id, lockId, error);
      throw error;
    }
    switch (code(reply)) {
      case 'A':
        return SESSION_ABSENT;
      case 'L':
        return lockedAnswer(reply, now);
      case 'D': {
        const [, expires, timeout, flags, owner, plain, compressed, indexUntil] = reply;
        try {
          const item = await this.item(timeout, owner, plain, compressed);
          await this.indexOwner(id, item.owner, indexUntil, now);
          return { kind: 'acquired', item, lockId, actions: actionsOf(flags), expires: integer(expires) };
        } catch (error) {
          // We hold the lock of a record we cannot read: its id goes with the error for the caller to release.
          if (error instanceof SessionStateCorruptError) error.lockId = lockId;
          else await this.releaseItemExclusive(id, lockId).catch(() => false);
          throw error;
        }
      }
      default:
        throw corrupt(reply);
    }
  }

  async setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    await this.save(id, item, lockId, newItem, '', false, 'the changes of this request were not saved');
  }

  /**
   * A mid-request save: writes the items and a new expiry and keeps the lock (the same lock id,
   * the same lock date). With `newItem`, inserts only if no live item exists, locked under a new
   * lock id. Answers the lock id held afterwards.
   */
  async setItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<string> {
    const held = newItem ? newLockId() : lockId;
    if (held === null) throw lockLost('lock_mismatch', 'the changes were not saved');
    await this.save(id, item, lockId, newItem, held, !newItem, 'the changes were not saved');
    return held;
  }

  /** One script: the save (or the release) and the next holder's lock, the session never unlocked in between. */
  override async handOverItemExclusive(id: string, item: SessionStateStoreData, lockId: string, changed: boolean): Promise<SessionStateAcquisition> {
    const now = this.clock();
    const next = newLockId();
    let expires: number;
    if (changed) expires = await this.save(id, item, lockId, false, next, false, 'it could not be handed over');
    else {
      const reply = await this.run(RELEASE, id, next, [String(now), this.extraMs, lockId, next, this.channel(id)]);
      if (code(reply) !== 'OK') throw refusal(reply, 'it could not be handed over');
      await this.indexOwner(id, item.owner, reply[2], now);
      expires = integer(reply[1]);
    }
    const handed: SessionStateStoreData =
      item.owner === undefined ? { items: item.items, timeout: item.timeout } : { items: item.items, timeout: item.timeout, owner: item.owner };
    return { kind: 'acquired', item: handed, lockId: next, actions: SessionStateActions.None, expires } satisfies SessionStateAcquired;
  }

  async releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    const now = this.clock();
    const reply = list(await this.commands.script(RELEASE, this.key(id), [String(now), this.extraMs, lockId, '', this.channel(id)]));
    if (code(reply) !== 'OK') return false;
    await this.indexOwner(id, undefined, reply[2], now);
    return true;
  }

  async removeItem(id: string, lockId: string, _options?: RemoveItemOptions): Promise<void> {
    const reply = list(await this.commands.script(REMOVE, this.key(id), [String(this.clock()), this.extraMs, lockId, this.channel(id)]));
    if (code(reply) !== 'OK') throw refusal(reply, 'the session was not removed');
    this.unindexOwner(id, reply[1]);
  }

  async resetItemTimeout(id: string): Promise<void> {
    const now = this.clock();
    const reply = list(await this.commands.script(RESET, this.key(id), [String(now), this.extraMs, this.channel(id)]));
    if (code(reply) === 'OK') await this.indexOwner(id, undefined, reply[2], now);
  }

  override async createUninitializedItem(id: string, timeout: number): Promise<void> {
    await this.commands.script(CREATE_UNINITIALIZED, this.key(id), [String(this.clock()), this.extraMs, String(timeout), this.channel(id)]);
  }

  /**
   * Sign out everywhere: the owner's index (SMEMBERS), then a script per session that removes it
   * only if it still has this owner (in parallel), then one SREM of the entries read.
   */
  override async revokeOwner(owner: string): Promise<number> {
    const ownerKey = this.ownerKey(owner);
    const members = list(await this.commands.command(ownerKey, ['SMEMBERS', ownerKey], 'revokeOwner'));
    const ids = members.map((m) => String(m));
    const now = String(this.clock());
    const results = await Promise.all(ids.map((id) => this.commands.script(REVOKE, this.key(id), [now, this.extraMs, owner, this.channel(id)])));
    if (ids.length > 0) await this.commands.command(ownerKey, ['SREM', ownerKey, ...ids], 'revokeOwner');
    return results.filter((r) => r === 1).length;
  }

  /** A watch on the session's release channel (rejects with `releaseNotifications: false`: the waiter then polls). */
  override watchReleases(id: string): Promise<SessionStateReleaseWatch> {
    if (!this.watches) return Promise.reject(new Error('Release notifications are off (releaseNotifications: false).'));
    return this.watches.watch(this.channel(id));
  }

  /** Redis answers PING within `requestTimeoutMs`. */
  override async checkHealth(): Promise<SessionStateStoreHealth> {
    try {
      await this.commands.command(this.key('health'), ['PING'], 'PING');
      return { up: true };
    } catch (error) {
      return { up: false, details: { error: (error as Error).message } };
    }
  }

  /** The session's key. */
  key(id: string): string {
    return `${this.settings.prefix}{${id}}`;
  }

  private channel(id: string): string {
    return `${this.settings.prefix}{${id}}:r`;
  }

  private ownerKey(owner: string): string {
    return `${this.settings.prefix}owner:{${owner}}`;
  }

  /** The SAVE script; answers the new expiry. `next`: the lock id held afterwards ('' releases). */
  private async save(
    id: string,
    item: SessionStateStoreData,
    lockId: string | null,
    newItem: boolean,
    next: string,
    keepDate: boolean,
    consequence: string,
  ): Promise<number> {
    if (!newItem && lockId === null) throw lockLost('lock_mismatch', consequence);
    const now = this.clock();
    const encoded = await this.codec.encode(item.items);
    const args = [
      String(now),
      this.extraMs,
      newItem ? 'new' : 'set',
      lockId ?? '',
      encoded.field,
      encoded.value,
      String(item.timeout),
      item.owner ?? '',
      next,
      keepDate ? '1' : '',
      this.channel(id),
    ];
    // A new lock id taken by a save whose answer was lost is released behind it.
    const reply = next !== '' && next !== lockId ? await this.run(SAVE, id, next, args) : list(await this.commands.script(SAVE, this.key(id), args));
    if (code(reply) !== 'OK') throw refusal(reply, consequence);
    await this.indexOwner(id, item.owner, reply[2], now);
    this.unindexOwner(id, reply[3]);
    return integer(reply[1]);
  }

  /** Runs a script that takes the lock `lockId`; when its answer is lost, releases that lock before throwing. */
  private async run(script: typeof SAVE, id: string, lockId: string, args: (string | Buffer)[]): Promise<RedisReply[]> {
    try {
      return list(await this.commands.script(script, this.key(id), args));
    } catch (error) {
      await this.settleLock(id, lockId, error);
      throw error;
    }
  }

  /**
   * A lock command that got no answer may still have run. The release, sent on the same connection
   * right behind it, runs after it: a lock it took is not left behind (bounded; best effort).
   */
  private async settleLock(id: string, lockId: string, error: unknown): Promise<void> {
    if (!mayHaveRun(error)) return;
    // Queued through a reconnect: the lock command ran before the old connection died, or never.
    const args = [String(this.clock()), this.extraMs, lockId, '', this.channel(id)];
    await this.commands.script(RELEASE, this.key(id), args, true).catch(() => undefined);
  }

  /** The owner index needs this session until `until` (a script's answer): one more round trip, rare. */
  private async indexOwner(id: string, owner: string | undefined, until: RedisReply | undefined, now: number): Promise<void> {
    if (until === null || until === undefined) return;
    if (owner === undefined) {
      // A release or reset does not carry the owner: read it (rarer still: once per timeout of activity).
      const [stored] = list(await this.commands.command(this.key(id), ['HMGET', this.key(id), 'o'], 'owner index'));
      if (stored === null) return;
      owner = String(stored);
    }
    const ttl = Math.max(1, integer(until) - now);
    await this.commands.script(INDEX_OWNER, this.ownerKey(owner), [id, String(ttl)]);
  }

  /** The session no longer has `owner`: its entry goes (best effort; revokeOwner cleans what stays). */
  private unindexOwner(id: string, owner: RedisReply | undefined): void {
    if (owner === null || owner === undefined) return;
    const ownerKey = this.ownerKey(String(owner));
    this.commands.command(ownerKey, ['SREM', ownerKey, id], 'owner index').catch(() => undefined);
  }

  private async item(timeout: RedisReply, owner: RedisReply, plain: RedisReply, compressed: RedisReply): Promise<SessionStateStoreData> {
    const minutes = Number(String(timeout));
    if (timeout === null || !(minutes > 0)) throw corruptRecord('it has no readable timeout');
    const items = await this.codec.decode(asBuffer(plain), asBuffer(compressed));
    return owner === null ? { items, timeout: minutes } : { items, timeout: minutes, owner: String(owner) };
  }

  private buildClient(options: RedisSessionStateStoreOptions): RedisSessionClient {
    const client = createClient({ ...options.clientOptions, ...(options.url === undefined ? {} : { url: options.url }) });
    // The store owns this client: node-redis reconnects by itself. Logged once per outage, not per attempt.
    let down = false;
    client.on('error', (error: Error) => {
      if (!down) this.logger.warn(`Redis connection lost (${error.message}); reconnecting. Session requests answer 503 meanwhile.`);
      down = true;
    });
    client.on('ready', () => {
      if (down) this.logger.log('Redis connection restored.');
      down = false;
    });
    return client as unknown as RedisSessionClient;
  }
}

function list(reply: RedisReply): RedisReply[] {
  if (!Array.isArray(reply)) throw corruptRecord('Redis answered in an unexpected shape');
  return reply;
}

function code(reply: RedisReply[]): string {
  return reply[0] instanceof Buffer ? reply[0].toString() : String(reply[0]);
}

function integer(value: RedisReply | undefined): number {
  return typeof value === 'number' ? value : Number(String(value));
}

function asBuffer(value: RedisReply): Buffer | null {
  return value instanceof Buffer ? value : null;
}

function corrupt(reply: RedisReply[]): SessionStateCorruptError {
  return corruptRecord(code(reply) === 'C' ? `its ${String(reply[1])} is not readable` : 'the script answered in an unexpected shape');
}

function actionsOf(flags: RedisReply): SessionStateActions {
  return flags !== null && String(flags) === '1' ? SessionStateActions.InitializeItem : SessionStateActions.None;
}

/** `['L', lockId, lockDate, expires]`: another request's lock. */
function lockedAnswer(reply: RedisReply[], now: number): SessionStateLocked {
  const lockDate = integer(reply[2]);
  const expires = integer(reply[3]);
  if (!Number.isFinite(lockDate) || !Number.isFinite(expires)) throw corruptRecord('its lock date or expiry is not a number');
  return { kind: 'locked', lockId: String(reply[1]), lockAge: Math.max(0, now - lockDate), expires };
}

/** A refused fenced write's reply (G, M, X, C) as the error the contract names. */
function refusal(reply: RedisReply[], consequence: string): Error {
  switch (code(reply)) {
    case 'X':
      return new SessionStateLockLostError('A session with this id already exists; the new session was not written.', 'item_exists');
    case 'G':
      return lockLost('item_gone', consequence);
    case 'M':
      return lockLost('lock_mismatch', consequence);
    default:
      return corrupt(reply);
  }
}

function lockLost(reason: SessionStateLockLostReason, consequence: string): SessionStateLockLostError {
  return new SessionStateLockLostError(`The session lock was lost (broken as stale, or the session was removed); ${consequence}.`, reason);
}
