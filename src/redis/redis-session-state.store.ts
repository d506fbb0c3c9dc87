import { createHash, randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  SessionStateCorruptError,
  SessionStateLockLostError,
  SessionStateStoreMisconfiguredError,
  SessionStateStoreUnavailableError,
  type SessionStateLockLostReason,
} from '../errors/session-state.errors.js';
import {
  MOVED_MARKER_MS,
  SESSION_ABSENT,
  SESSION_MOVED,
  SessionStateActions,
  SessionStateStore,
  type RemoveItemOptions,
  type SessionStateAcquired,
  type SessionStateAcquisition,
  type SessionStateLocked,
  type SessionStateOwnedSession,
  type SessionStateRead,
  type SessionStateReleaseWatch,
  type SessionStateStoreData,
  type SessionStateStoreHealth,
} from '../store/session-state-store.js';
import { RedisCommands, type RedisReply } from './redis-commands.js';
import { connectAtStartup } from './redis-connect.js';
import { corruptRecord, mayHaveRun } from './redis-errors.js';
import { RedisItemsCodec } from './redis-items-codec.js';
import { RedisPendingReleases } from './redis-pending-releases.js';
import { RedisReleaseWatches } from './redis-release-watches.js';
import { ACL_CHECK, CREATE_UNINITIALIZED, LOCK, LOCK_SLIDE_MS, PROBE, READ, RELEASE, REMOVE, RESET, SAVE } from './redis-scripts.js';
import type { OwnerSlotAnswer, OwnerSlotClaim } from '../store/owner-slots.js';
import type { OwnerSweepResult } from './redis-owner-sweep.js';
import { RedisOwners } from './redis-owners.js';
import { code, integer, list } from './redis-replies.js';
import { redisStoreSettings, type RedisStoreSettings } from './redis-store-settings.js';
import type { RedisSessionClient, RedisSessionStateStoreOptions } from './redis-session-state-store.options.js';

/*
 * Design (for docs/REDIS.md).
 *
 * Keys (`P` = keyPrefix + (application + ':' when set)), a session's in one slot by its `{id}` tag:
 *   P{<id>}             hash: the session (fields in redis-scripts.ts); PEXPIRE = timeout + ttlExtraSeconds
 *                       + a quarter of the timeout, renewed when a slide passes it (field x). After a
 *                       login moved it: its marker, field m alone, PEXPIRE MOVED_MARKER_MS + ttlExtraSeconds
 *   P{<id>}:r           channel: a release of its lock (SPUBLISH, in the session's slot)
 *   Powner:{<owner>}    sorted set: the owner's session ids, scored by until when each entry is needed
 *                       (another slot on a cluster). NO TTL: no volatile-* eviction policy may evict it
 *                       while a session of the owner lives (with a TTL, LRU evicted it first: the idlest key)
 *   Powner:{<owner>}:cap sorted set: maxSessionsPerOwner's book, id scored by when it took its place
 *                       (same slot as the index; no TTL; deleted with the index)
 *   Powners             sorted set: owners with an index, scored by when the sweep should look at them
 *                       (RedisOwnerSweep: deletes the owner's keys once no entry is needed)
 *   Powner:{<owner>}:cap:moves sorted set: the book's moves ('new-id old-id'), same slot, set by the
 *                       claim, with a TTL (kept as long as a claim's keepMs): lost, moves count twice, no more
 *
 * Round trips per contract call: each is one script by EVALSHA (EVAL once per server on NOSCRIPT),
 * but getItem: a plain HMGET (and the READ script after it when it finds a lock nobody has marked as
 * waited for yet). `probeLock` reads four small fields. getItem 1, getItemExclusive 1 (contended: 1, the
 * holder's lock only), setAndReleaseItemExclusive 1, releaseItemExclusive 1, handOverItemExclusive 1
 * (the next holder's lock taken in the same script), removeItem 1, resetItemTimeout 1. The owner
 * index costs one more round trip (two scripts sent together: the entry on the owner's index, the
 * owner's registration in the reaper set) when a session gets an owner, and then at most once per
 * `timeout` of activity, when the session's expiry passes the entry's horizon (field `u`); a claim of
 * maxSessionsPerOwner sends its registration beside its script. Removing an owned session sends a
 * best-effort script (out of the index and the cap book). revokeOwner: ZRANGE, a script per session
 * (in parallel), one script out of the index and book. Entries past their horizon are trimmed where
 * the index is written, and by the sweep, which deletes the owner's keys once none is left.
 *
 * Lock cost does not depend on the session's size: the lock is two small fields; a contended
 * lock, a probe, a release and an unchanged hand-over never read or write the items.
 * What a script costs Redis: see redis-scripts.ts (each field, argument and reply element counts).
 *
 * Expiry: the hash's `e` (the store's clock) decides on every call, so an expired session reads
 * absent even before Redis drops the key. Slid by releasing the lock, saving, `resetItemTimeout`
 * (which the lifecycle sends for read-only requests only once over half the timeout has passed),
 * and by taking the lock when the expiry is within LOCK_SLIDE_MS (10 min): a read costs no write,
 * and a lock far from the expiry writes only the lock (the request's save or release slides).
 *
 * Waiters: a waiter on another instance watches the session's channel (one subscriber connection
 * per store, a channel per session only while someone of this process waits) and retries the lock
 * when the release is published; it also checks every `fallbackPollMs` (jittered), so a lost
 * message costs latency only. A waiting request costs, per second, about one probe (a script
 * reading four small fields) per fallback pause plus one lock attempt per release it is woken by.
 * A release publishes only when someone found the lock held (field `w`): uncontended requests
 * publish nothing.
 *
 * ACL (checked by test/redis/redis-acl.e2e.spec.ts on Redis 7.0): the store sends EVALSHA, EVAL,
 * HMGET, HDEL, ZRANGE, ZREM, PING (SMEMBERS: an index of an older version); the subscriber SSUBSCRIBE,
 * SUNSUBSCRIBE (SUBSCRIBE, UNSUBSCRIBE on Redis < 7); the scripts call HMGET, HSET, HDEL, DEL, PEXPIRE,
 * PTTL, SPUBLISH (PUBLISH), TYPE, PERSIST, ZADD, ZREM, ZSCORE, ZCARD, ZRANGE, ZRANGEBYSCORE,
 * ZREMRANGEBYSCORE (SMEMBERS, SREM: an index of an older version); node-redis's handshake needs HELLO.
 * Keys and channels under the prefix:
 *   ACL SETUSER app on >pw ~sess:* &sess:* +evalsha +eval +hmget +hset +hdel +del +pexpire +pttl
 *     +type +persist +zadd +zrem +zscore +zcard +zrange +zrangebyscore +zremrangebyscore +smembers +srem
 *     +spublish +publish +ssubscribe +sunsubscribe +ping +hello
 * (On Redis >= 7.2 node-redis also sends CLIENT SETINFO at connect: +client|setinfo, or the
 * client option disableClientInfo; not verified here, the machine has 7.0.)
 *
 * A Redis restart without persistence (no RDB/AOF) loses every session: users are signed out,
 * and a request holding a lock then fails its save with `item_gone` (409) instead of writing into
 * an empty server. Locks never outlive the data. With AOF `appendfsync everysec`, up to a second
 * of saves can be lost on a crash. A command given up on by timeout after it was sent may still run:
 * a lock it took is released right behind it on the same connection. A release that fails because
 * Redis is unreachable is tried again every 500 ms until Redis answers (for up to 2 minutes): with
 * persistence, a lock held when Redis went down does not keep its session locked until it is stale.
 */

/** The SHA1 of a script no server has (EVALSHA answers NOSCRIPT, or NOPERM when scripts are refused). */
const ACL_CHECK_SHA1 = createHash('sha1').update('nestjs-session-state: may this user run scripts?').digest('hex');

/**
 * Lock ids: unique is all a fencing token needs, so a random prefix per store (96 bits: no two
 * stores, in any process, share one) and a counter, not random bytes per lock (a measurable cost).
 */
class LockIds {
  private readonly prefix = `${randomBytes(12).toString('base64url')}.`;
  private sequence = 0;

  next(): string {
    return this.prefix + (++this.sequence).toString(36);
  }
}

/**
 * Sessions in Redis (standalone or Cluster) through node-redis: each contract call one Lua script,
 * every write that ends a lock fenced by the lock id, expiry by the stored expiry and Redis TTL,
 * and waiters of other instances woken by the release (sharded pub/sub) rather than polling.
 * See the design note above.
 */
export class RedisSessionStateStore extends SessionStateStore {
  private readonly logger = new Logger(RedisSessionStateStore.name);
  private readonly options: RedisSessionStateStoreOptions;
  private readonly settings: RedisStoreSettings;
  private readonly codec: RedisItemsCodec;
  private readonly clock: () => number;
  private readonly extraMs: string;
  private readonly lockIds = new LockIds();
  /** Sessions a read found locked, read by the script next time (see `getItem`). */
  private readonly foundLocked = new Set<string>();
  /** The client and what runs on it: at once for a client passed in; at `init()` for one the store makes. */
  private connection: { client: RedisSessionClient; commands: RedisCommands; watches: RedisReleaseWatches | undefined } | undefined;
  private ready: Promise<void> | undefined;
  /** Set by `close()`; the next `init()` waits for it, then opens the store again. */
  private closing: Promise<void> | undefined;
  private readonly pendingReleases = new RedisPendingReleases((id, lockId) =>
    this.commands.script(RELEASE, this.key(id), [String(this.clock()), this.extraMs, lockId, '']),
  );
  /** The owner index, the cap's book and their sweep. */
  private readonly owners: RedisOwners;

  /** Moved sessions' markers, with the move's lock id (see `removeItem`). */
  override get keepsMovedMarkers(): boolean {
    return true;
  }

  constructor(options: RedisSessionStateStoreOptions = {}) {
    super();
    this.options = options;
    this.settings = redisStoreSettings(options);
    // Whole milliseconds: the hot scripts compare times as decimal strings (see redis-scripts.ts).
    const clock = this.settings.clock;
    this.clock = () => Math.floor(clock());
    this.extraMs = String(this.settings.ttlExtraSeconds * 1000);
    this.codec = new RedisItemsCodec(this.settings.compressionThresholdBytes, this.settings.maxItemBytes);
    this.owners = new RedisOwners({
      commands: () => this.commands,
      key: (id) => this.key(id),
      prefix: this.settings.prefix,
      clock: this.clock,
      extraMs: this.extraMs,
      sweepIntervalMs: this.settings.ownerSweepIntervalMs,
      logger: this.logger,
    });
    if (options.client) this.connection = this.connectionOf(options.client);
  }

  /** The client the store runs on (the one passed in, or, after `init()`, the one it made). */
  get client(): RedisSessionClient {
    return this.connected().client;
  }

  /**
   * Makes the store's own client (loading `redis` only then) and connects it, or connects a client
   * passed in that is not open yet. Idempotent; the module runs it when each application using the
   * store starts. After `close()` it opens the store again (a new client of its own for `url`).
   * Fails (and destroys the client it connected) at once when Redis refuses the connection
   * (WRONGPASS, NOPERM, a database refused), and after `connectTimeoutMs` when Redis is unreachable.
   */
  init(): Promise<void> {
    this.ready ??= (async () => {
      if (this.closing) await this.reopen();
      this.connection ??= this.connectionOf(await this.buildClient());
      if (!this.connection.client.isOpen) await connectAtStartup(this.connection.client, this.settings.connectTimeoutMs);
      await this.checkScripting(this.connection.client);
      await this.warnOnEviction();
      this.owners.sweep.start();
    })().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  /**
   * At startup: may this user run scripts at all? Without EVALSHA and EVAL (ACL category
   * @scripting) no session call can work, so startup fails at once saying so, as for a refused
   * password, instead of every request answering 503. One `EVALSHA` of a script no server has
   * (NOSCRIPT: allowed) and one `EVAL` of a no-op; then `ACL_CHECK`, which tries the commands the
   * scripts run (Redis's refusal of one inside a script does not say which). Any answer but a
   * refusal passes (the store's calls report the rest). A client the store made is destroyed, as
   * when its connection is refused.
   */
  private async checkScripting(client: RedisSessionClient): Promise<void> {
    const key = this.key('startup-check');
    const checks = [
      ['EVALSHA', ACL_CHECK_SHA1, '0'],
      ['EVAL', 'return 0', '0'],
    ].map((args) =>
      this.commands.command(key, args, `${args[0]} (startup check)`).then(
        () => undefined,
        (error: unknown) => (error instanceof SessionStateStoreMisconfiguredError ? error : undefined),
      ),
    );
    let refused = (await Promise.all(checks)).find((error) => error !== undefined);
    if (!refused) {
      // Scripts may run: may they run what they call? (Redis names no command when a script's own is refused.)
      const commands = await this.commands.script(ACL_CHECK, key, [], false, [`${key}:s`]).then(
        (reply) => (Array.isArray(reply) ? reply.map((name) => String(name).toLowerCase()) : []),
        (error: unknown) => (error instanceof SessionStateStoreMisconfiguredError ? error : []),
      );
      if (commands instanceof Error) refused = commands;
      else if (commands.length > 0) {
        refused = new SessionStateStoreMisconfiguredError(
          `Redis refuses the store's scripts ${commands.join(', ').toUpperCase()} (NOPERM): grant ${commands.map((c) => `+${c}`).join(' ')} ` +
            'to the connection\'s user (docs/REDIS.md, "ACL").',
        );
      }
    }
    if (!refused) return;
    if (!this.options.client && client.isOpen) client.destroy();
    throw refused;
  }

  /**
   * At startup, best effort (`INFO memory`; a user without it, or a server hiding it, is not asked
   * again): a server that evicts any key at its `maxmemory` (an `allkeys-*` policy) may evict an
   * owner's index (written at login, then about once per timeout: the idlest of the owner's keys)
   * before the owner's busy sessions, so that sign-out-everywhere and `maxSessionsPerOwner` no
   * longer see them. Said once, in the log. Not for `volatile-*`: they evict only keys with a TTL,
   * and the owner's keys have none (INDEX_OWNER); an evicted session is only signed out.
   */
  private async warnOnEviction(): Promise<void> {
    const info = await this.commands.command(this.key('startup-check'), ['INFO', 'memory'], 'INFO (startup check)').catch(() => undefined);
    const text = typeof info === 'string' ? info : String(info ?? '');
    const policy = /maxmemory_policy:(\S+)/.exec(text)?.[1];
    const maxmemory = Number(/maxmemory:(\d+)/.exec(text)?.[1] ?? 0);
    if (!policy?.startsWith('allkeys-') || maxmemory === 0) return;
    this.logger.warn(
      `Redis evicts any key at its maxmemory (maxmemory-policy ${policy}): an evicted owner index hides that owner's ` +
        'sessions from revokeOwner (sign out everywhere) and maxSessionsPerOwner. Use a volatile-* policy or noeviction ' +
        '(docs/REDIS.md, "Persistence: what a Redis restart means").',
    );
  }

  /**
   * One sweep of the owner indexes now (the store runs one every `ownerSweep.intervalMs`, jittered):
   * deletes the index and cap book of owners none of whose entries is needed any more. For tests
   * and operators; safe beside the sweeps of other instances.
   */
  sweepOwners(): Promise<OwnerSweepResult> {
    return this.owners.sweep.sweep();
  }

  /**
   * Closes the subscriber connection (without waiting on it: during an outage it may never connect),
   * makes one last attempt at the releases an outage held back, and closes the client if the store
   * made it (a client passed in belongs to the caller). Closes now, whoever still uses the store;
   * the module calls it when the last application using the store shuts down (store-users.ts).
   */
  close(): Promise<void> {
    // Unset at once: an init() from now on waits for this close, then opens the store again.
    this.ready = undefined;
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    await this.owners.sweep.stop();
    const connection = this.connection;
    if (!connection) return;
    await connection.watches?.close();
    // Locks an outage kept us from releasing: one last try; what Redis still refuses turns stale (executionTimeout).
    const left = await this.pendingReleases.flush();
    if (left > 0) this.logger.warn(`Closing with ${left} session lock(s) not released (Redis unreachable); they are broken as stale later.`);
    if (!this.options.client && connection.client.isOpen) connection.client.destroy();
  }

  /** After a close: a fresh connection (the old one's client, if the store made it, is destroyed). */
  private async reopen(): Promise<void> {
    await this.closing;
    this.closing = undefined;
    this.connection = this.options.client ? this.connectionOf(this.options.client) : undefined;
    this.owners.sweep.resume();
  }

  private get commands(): RedisCommands {
    return this.connected().commands;
  }

  private connected(): NonNullable<RedisSessionStateStore['connection']> {
    if (!this.connection) {
      throw new SessionStateStoreMisconfiguredError('RedisSessionStateStore: call init() before use (Nest does, at startup), or pass a client.');
    }
    return this.connection;
  }

  private connectionOf(client: RedisSessionClient): NonNullable<RedisSessionStateStore['connection']> {
    const { fallbackPollMs, requestTimeoutMs } = this.settings;
    return {
      client,
      commands: new RedisCommands(client, requestTimeoutMs),
      watches: fallbackPollMs === null ? undefined : new RedisReleaseWatches(client, fallbackPollMs, requestTimeoutMs, this.logger),
    };
  }

  /**
   * A plain `HMGET` (a script costs Redis about 30 times a plain command's CPU): a read writes
   * nothing, unless it finds the lock held by a request nobody waits for yet. Then the `READ` script
   * decides again, atomically, and marks the lock as waited for (`w`), so that its release publishes
   * to this waiter; a second round trip, on a contended session only. The HMGET also brings the
   * items of a locked session, for nothing: so a session found locked is read by the script (which
   * answers a held lock without the items) until it is found unlocked; a waiting reader's retries
   * cost what they did, whatever the session's size.
   */
  async getItem(id: string): Promise<SessionStateRead> {
    const now = this.clock();
    if (this.foundLocked.delete(id)) return this.readMarking(id, now);
    const key = this.key(id);
    const [v, e, l, d, w, timeout, flags, owner, plain, compressed, created, client, moved] = list(
      await this.commands.command(key, ['HMGET', key, 'v', 'e', 'l', 'd', 'w', 't', 'f', 'o', 'i', 'g', 'c', 'a', 'm'], 'read'),
    );
    // No session; a moved session's marker (REMOVE) while it lasts.
    if (v === null && e === null) return moved !== null && Number(String(moved)) > now ? SESSION_MOVED : SESSION_ABSENT;
    const expires = e instanceof Buffer && e.length > 0 ? Number(e.toString()) : NaN;
    if (!(v instanceof Buffer && v.length === 1 && v[0] === 0x31) || !Number.isFinite(expires)) throw corruptRecord('its format is not readable');
    if (expires <= now) return SESSION_ABSENT;
    if (l !== null) return w === null ? this.readMarking(id, now) : this.locked(id, lockedAnswer([null, l, d ?? 0, expires], now));
    const item = await this.item(timeout, owner, plain, compressed, created, client);
    return { kind: 'loaded', item, actions: actionsOf(flags), expires };
  }

  /** getItem by the READ script: a held lock is marked as waited for in the same step. */
  private async readMarking(id: string, now: number): Promise<SessionStateRead> {
    const reply = list(await this.commands.script(READ, this.key(id), [String(now), this.extraMs]));
    switch (code(reply)) {
      case 'A':
        return reply.length > 1 ? SESSION_MOVED : SESSION_ABSENT;
      case 'L':
        return this.locked(id, lockedAnswer(reply, now));
      case 'D': {
        const [, expires, timeout, flags, owner, plain, compressed, created, client] = reply;
        const item = await this.item(timeout, owner, plain, compressed, created, client);
        return { kind: 'loaded', item, actions: actionsOf(flags), expires: integer(expires) };
      }
      default:
        throw corrupt(reply);
    }
  }

  /** Remembers that `id` was found locked: its next read is by the script (see `getItem`). */
  private locked(id: string, answer: SessionStateLocked): SessionStateLocked {
    // Bounded: a reader that never comes back leaves an entry; clearing only costs one HMGET's items.
    if (this.foundLocked.size >= 10_000) this.foundLocked.clear();
    this.foundLocked.add(id);
    return answer;
  }

  /** The lock's fields only (one script: see `PROBE`), never the items. */
  override async probeLock(id: string): Promise<SessionStateLocked | null> {
    const now = this.clock();
    const reply = list(await this.commands.script(PROBE, this.key(id), [String(now), this.extraMs]));
    return code(reply) === 'L' ? lockedAnswer(reply, now) : null;
  }

  async getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    const now = this.clock();
    const lockId = this.lockIds.next();
    const args = [String(now), String(now + LOCK_SLIDE_MS), lockId, this.extraMs];
    const started = Date.now();
    let reply: RedisReply;
    try {
      reply = await this.commands.script(LOCK, this.key(id), args);
    } catch (error) {
      // A LOCK run a second time answers the lock it took as taken (see LOCK), so it may be sent again.
      const again = await this.sendAgain(LOCK, id, args, started, error);
      if (again === undefined) {
        await this.settleLock(id, lockId, error);
        throw error;
      }
      reply = again;
    }
    if (!Array.isArray(reply)) {
      if (code(reply) === 'A') return SESSION_ABSENT;
      if (code(reply) === 'V') return SESSION_MOVED;
      throw corrupt(reply);
    }
    // Most locks: the script's HMGET as it came, the expiry appended (see LOCK).
    if (reply.length === 8) {
      const [timeout, flags, owner, plain, compressed, created, client, expires] = reply;
      return this.acquired(id, lockId, now, { expires, timeout, flags, owner, plain, compressed, indexUntil: null, created, client });
    }
    switch (code(reply)) {
      case 'L':
        return lockedAnswer(reply, now);
      case 'D': {
        const [, expires, timeout, flags, owner, plain, compressed, indexUntil, created, client] = reply;
        return this.acquired(id, lockId, now, { expires, timeout, flags, owner, plain, compressed, indexUntil, created, client });
      }
      default:
        throw corrupt(reply);
    }
  }

  /** The lock is ours: the session as LOCK read it. */
  private async acquired(
    id: string,
    lockId: string,
    now: number,
    data: Record<LockedField, RedisReply | undefined>,
  ): Promise<SessionStateAcquisition> {
    try {
      // The script compares the stored expiry as a string; whether it is a number is checked here.
      const expires = integer(data.expires);
      if (!Number.isFinite(expires)) throw corruptRecord('its expiry is not a number');
      const item = await this.item(data.timeout ?? null, data.owner ?? null, data.plain ?? null, data.compressed ?? null, data.created, data.client);
      await this.owners.indexOwner(id, item.owner, data.indexUntil, now);
      return { kind: 'acquired', item, lockId, actions: actionsOf(data.flags ?? null), expires };
    } catch (error) {
      // We hold the lock of a record we cannot read: its id goes with the error for the caller to release.
      if (error instanceof SessionStateCorruptError) error.lockId = lockId;
      else await this.releaseItemExclusive(id, lockId).catch(() => false);
      throw error;
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
    const held = newItem ? this.lockIds.next() : lockId;
    if (held === null) throw lockLost('lock_mismatch', 'the changes were not saved');
    await this.save(id, item, lockId, newItem, held, !newItem, 'the changes were not saved');
    return held;
  }

  /** One script: the save (or the release) and the next holder's lock, the session never unlocked in between. */
  override async handOverItemExclusive(id: string, item: SessionStateStoreData, lockId: string, changed: boolean): Promise<SessionStateAcquisition> {
    const now = this.clock();
    const next = this.lockIds.next();
    let expires: number;
    if (changed) expires = await this.save(id, item, lockId, false, next, false, 'it could not be handed over');
    else {
      const released = releaseAnswer(await this.run(RELEASE, id, next, [String(now), this.extraMs, lockId, next]));
      if (!released.ok) throw refusal(released.reply, 'it could not be handed over');
      await this.owners.indexOwner(id, item.owner, released.index, now);
      expires = released.expires;
    }
    const handed = storeDataOf(item.items, item.timeout, item.owner, item.created, item.client);
    return { kind: 'acquired', item: handed, lockId: next, actions: SessionStateActions.None, expires } satisfies SessionStateAcquired;
  }

  async releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    const now = this.clock();
    let released: ReturnType<typeof releaseAnswer>;
    try {
      released = releaseAnswer(await this.commands.script(RELEASE, this.key(id), [String(now), this.extraMs, lockId, '']));
    } catch (error) {
      // Redis unreachable: released again once it answers (with persistence the lock would outlive the outage).
      if (unreachable(error)) this.pendingReleases.add(id, lockId);
      throw error;
    }
    if (!released.ok) return false;
    await this.owners.indexOwner(id, released.owner, released.index, now);
    return true;
  }

  /** With `moved`, the script leaves the marker in place of the session (see REMOVE): no call more. */
  async removeItem(id: string, lockId: string, options?: RemoveItemOptions): Promise<void> {
    const now = this.clock();
    const args = [String(now), this.extraMs, lockId];
    if (options?.moved) args.push(String(now + MOVED_MARKER_MS), String(MOVED_MARKER_MS + Number(this.extraMs)));
    const started = Date.now();
    const reply = list(
      await this.commands.script(REMOVE, this.key(id), args).catch(async (error: unknown) => {
        // Sent again, a move's removal that ran finds its own marker (OK); a logout's finds the session
        // gone, which the lifecycle reads as its own.
        const again = await this.sendAgain(REMOVE, id, args, started, error);
        if (again === undefined) throw error;
        return again;
      }),
    );
    if (code(reply) !== 'OK') throw refusal(reply, 'the session was not removed');
    this.owners.unindexOwner(id, reply[1]);
  }

  async resetItemTimeout(id: string): Promise<void> {
    const now = this.clock();
    const reply = list(await this.commands.script(RESET, this.key(id), [String(now), this.extraMs]));
    if (code(reply) === 'OK') await this.owners.indexOwner(id, ownerOf(reply[3]), reply[2], now);
  }

  override async createUninitializedItem(id: string, timeout: number): Promise<void> {
    await this.commands.script(CREATE_UNINITIALIZED, this.key(id), [String(this.clock()), this.extraMs, String(timeout)]);
  }

  /** Sign out everywhere (see RedisOwners). */
  override revokeOwner(owner: string): Promise<number> {
    return this.owners.revokeOwner(owner);
  }

  /** maxSessionsPerOwner's claim (see RedisOwners). */
  override claimOwnerSlot(claim: OwnerSlotClaim): Promise<OwnerSlotAnswer> {
    return this.owners.claimOwnerSlot(claim);
  }

  override releaseOwnerSlot(owner: string, id: string): Promise<void> {
    return this.owners.releaseOwnerSlot(owner, id);
  }

  /** A user's sessions (see RedisOwners). */
  override listOwnerSessions(owner: string): Promise<SessionStateOwnedSession[]> {
    return this.owners.listOwnerSessions(owner);
  }

  /** Sign out one session (see RedisOwners). */
  override revokeItem(id: string, owner: string): Promise<boolean> {
    return this.owners.revokeItem(id, owner);
  }

  /** A watch on the session's release channel (rejects with `releaseNotifications: false`: the waiter then polls). */
  override watchReleases(id: string): Promise<SessionStateReleaseWatch> {
    const watches = this.connection?.watches;
    if (!watches) return Promise.reject(new Error('Release notifications are off (releaseNotifications: false), or the store is not initialised.'));
    return watches.watch(this.channel(id));
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
    // The numbers every save writes, computed here (see SAVE): the new expiry, and what the key's TTL must reach.
    const expires = Math.floor(now + item.timeout * 60_000);
    const keep = expires + this.settings.ttlExtraSeconds * 1000;
    const args = [
      String(now),
      String(keep),
      newItem ? 'new' : keepDate ? 'keep' : 'set',
      lockId ?? '',
      encoded.field,
      encoded.value,
      String(item.timeout),
      item.owner ?? '',
      next,
      item.created === undefined ? '' : String(item.created),
      item.client ?? '',
      String(expires),
      // This call's own token: a resent SAVE recognises its first run by it (see SAVE's R), a second call never.
      this.lockIds.next(),
    ];
    const { reply, again } = await this.sendSave(id, next !== '' && next !== lockId ? next : null, args);
    const answer = code(reply);
    if (answer === 'R') {
      // This save had already run (sent again after its answer was lost): saved. The owner index is brought
      // up to the horizon it recorded; an owner it dropped is left to the sweep.
      const [, owner, until] = reply as RedisReply[];
      await this.owners.indexOwner(id, ownerOf(owner), until, now, again);
      return expires;
    }
    if (answer !== 'OK') throw refusal(reply, consequence);
    if (Array.isArray(reply)) {
      await this.owners.indexOwner(id, item.owner, reply[1], now, again);
      this.owners.unindexOwner(id, reply[2]);
    }
    return expires;
  }

  /**
   * The SAVE script. One that failed at once after it was sent (a dropped connection) may have run: it is
   * sent once more (by EVAL, through the reconnect, within `requestTimeoutMs`), and recognises its first
   * run by its token, or runs now: 200 where the answer was lost, as ioredis's own resend gives. Not after
   * a timeout: a retry queued behind the stalled command could not answer sooner, and would double the
   * wait. A refusal of the retry (another request saved or took the session meanwhile) cannot tell whether
   * the first attempt landed: the first error stands (503, unknown), not 409 "not saved" (review R16).
   * When it fails, a new lock id it took (`takes`) is released behind it.
   */
  private async sendSave(id: string, takes: string | null, args: (string | Buffer)[]): Promise<{ reply: RedisReply; again: boolean }> {
    const started = Date.now();
    try {
      return { reply: await this.commands.script(SAVE, this.key(id), args), again: false };
    } catch (error) {
      const reply = await this.sendAgain(SAVE, id, args, started, error);
      if (reply !== undefined && !['M', 'G', 'X'].includes(code(reply))) return { reply, again: true };
      if (takes !== null) await this.settleLock(id, takes, error);
      throw error;
    }
  }

  /**
   * A script that failed at once after it was sent (a dropped connection, within half of
   * `requestTimeoutMs` of `started`) may have run: it is sent once more, by EVAL through the reconnect,
   * for a script that recognises its own first run (SAVE, LOCK) or whose second run's answer says what
   * the first did (REMOVE: the session gone). Undefined when it is not sent again, or when the second
   * attempt fails too.
   */
  private async sendAgain(
    script: typeof SAVE,
    id: string,
    args: (string | Buffer)[],
    started: number,
    error: unknown,
  ): Promise<RedisReply | undefined> {
    if (!mayHaveRun(error) || Date.now() - started >= this.settings.requestTimeoutMs / 2) return undefined;
    return this.commands.script(script, this.key(id), args, true).catch(() => undefined);
  }

  /** Runs a script that takes the lock `lockId`; when its answer is lost, releases that lock before throwing. */
  private async run(script: typeof SAVE, id: string, lockId: string, args: (string | Buffer)[]): Promise<RedisReply> {
    try {
      return await this.commands.script(script, this.key(id), args);
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
    const args = [String(this.clock()), this.extraMs, lockId, ''];
    await this.commands.script(RELEASE, this.key(id), args, true).catch(() => this.pendingReleases.add(id, lockId));
  }

  private async item(
    timeout: RedisReply,
    owner: RedisReply,
    plain: RedisReply,
    compressed: RedisReply,
    created: RedisReply | undefined,
    client: RedisReply | undefined,
  ): Promise<SessionStateStoreData> {
    const minutes = Number(String(timeout));
    if (timeout === null || !(minutes > 0)) throw corruptRecord('it has no readable timeout');
    const items = await this.codec.decode(asBuffer(plain), asBuffer(compressed));
    const since = created === null || created === undefined ? Number.NaN : Number(String(created));
    return storeDataOf(
      items,
      minutes,
      ownerOf(owner),
      Number.isFinite(since) ? since : undefined,
      client === null || client === undefined ? undefined : String(client),
    );
  }

  /** The store's own client, from `url` / `clientOptions`; `redis` is loaded here, not by the entry point. */
  private async buildClient(): Promise<RedisSessionClient> {
    let redis: typeof import('redis');
    try {
      redis = await import('redis');
    } catch (error) {
      throw new SessionStateStoreMisconfiguredError(
        'RedisSessionStateStore makes its client with the `redis` package (node-redis 5 or 6), which is not installed: ' +
          'npm install redis, or pass client (a node-redis client, or fromIoredis(yourIoredisClient)).',
        { cause: error },
      );
    }
    const { url, clientOptions } = this.options;
    let client: ReturnType<typeof redis.createClient>;
    try {
      client = redis.createClient({ ...clientOptions, ...(url === undefined ? {} : { url }) });
    } catch (error) {
      // A malformed url (a typo in the port): node-redis's error carries the whole URL, password included
      // (`input`), so neither it nor its cause goes into this one (review R40).
      throw new SessionStateStoreMisconfiguredError(
        `RedisSessionStateStore could not make its client: ${withoutCredentials(error, [url, clientOptions?.url])}. Check url and clientOptions.`,
      );
    }
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

/** The fields of a session LOCK answers. */
type LockedField = 'expires' | 'timeout' | 'flags' | 'owner' | 'plain' | 'compressed' | 'indexUntil' | 'created' | 'client';

/** Redis did not answer (down, reconnecting, too slow): not a refusal, not a misconfiguration. */
function unreachable(error: unknown): boolean {
  return error instanceof SessionStateStoreUnavailableError && !(error instanceof SessionStateStoreMisconfiguredError);
}

/** RELEASE's reply: the new expiry, and the owner index's horizon with the owner when it needs one; else the refusal. */
function releaseAnswer(
  reply: RedisReply,
): { ok: true; expires: number; index: RedisReply; owner: string | undefined } | { ok: false; reply: RedisReply } {
  if (typeof reply === 'number') return { ok: true, expires: reply, index: null, owner: undefined };
  if (Array.isArray(reply) && code(reply) === 'OK')
    return { ok: true, expires: integer(reply[1]), index: reply[2] ?? null, owner: ownerOf(reply[3]) };
  return { ok: false, reply };
}

/** A script's owner field: absent (nil, false) or the owner. */
function ownerOf(value: RedisReply | undefined): string | undefined {
  return value === null || value === undefined ? undefined : String(value);
}

function asBuffer(value: RedisReply): Buffer | null {
  return value instanceof Buffer ? value : null;
}

function corrupt(reply: RedisReply): SessionStateCorruptError {
  return corruptRecord(
    Array.isArray(reply) && code(reply) === 'C' ? `its ${String(reply[1])} is not readable` : 'the script answered in an unexpected shape',
  );
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
function refusal(reply: RedisReply, consequence: string): Error {
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

/** A session's data, without the fields it does not have. */
function storeDataOf(items: string, timeout: number, owner?: string, created?: number, client?: string): SessionStateStoreData {
  const item: { -readonly [K in keyof SessionStateStoreData]: SessionStateStoreData[K] } = { items, timeout };
  if (owner !== undefined) item.owner = owner;
  if (created !== undefined) item.created = created;
  if (client !== undefined) item.client = client;
  return item;
}

/**
 * An option error's name, code and message, without the configured urls (node-redis quotes them whole)
 * nor anything else shaped like a URL's credentials: up to the last '@' of its authority, since a
 * password may hold an unencoded '@' or blank (review R41).
 */
function withoutCredentials(error: unknown, urls: readonly unknown[]): string {
  if (!(error instanceof Error)) return 'an invalid option';
  const code = (error as { code?: unknown }).code;
  let message = error.message;
  for (const url of urls) if (typeof url === 'string' && url !== '') message = message.split(url).join('<url>');
  return `${error.constructor.name}${typeof code === 'string' ? ` ${code}` : ''}: ${message.replace(/\/\/[^/]*@/g, '//')}`;
}
