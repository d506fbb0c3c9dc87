import { createHash } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { SessionStateCorruptError } from '../errors/session-state.errors.js';
import { claimOwnerSlot, type OwnerSlotAnswer, type OwnerSlotClaim } from '../store/owner-slots.js';
import type { SessionStateOwnedSession } from '../store/session-state-store.js';
import type { RedisCommands, RedisReply } from './redis-commands.js';
import { RedisOwnerSweep } from './redis-owner-sweep.js';
import { code, integer, list } from './redis-replies.js';
import { CLAIM_OWNER_SLOT, INDEX_OWNER, OWNED, REAP_REGISTER, REVOKE, UNINDEX_OWNER } from './redis-scripts.js';

/** Failed registrations kept for the next sweep, at most (an outage of the reaper's node: see `unregistered`). */
const MAX_UNREGISTERED = 10_000;

/** What the owner index needs of its store. */
export interface RedisOwnersContext {
  readonly commands: () => RedisCommands;
  /** A session's key. */
  readonly key: (id: string) => string;
  /** The store's key prefix (`keyPrefix` + application). */
  readonly prefix: string;
  readonly clock: () => number;
  /** ttlExtraSeconds in ms, as the scripts take it. */
  readonly extraMs: string;
  readonly sweepIntervalMs: number | null;
  readonly logger: Logger;
}

/**
 * A Redis store's owners: the owner index (`{prefix}owner:{<owner>}`, a sorted set without TTL, see
 * INDEX_OWNER) that sign-out-everywhere, a user's list and `maxSessionsPerOwner` find an owner's
 * sessions by, the cap's book beside it, and the sweep that deletes what no session needs. The store's
 * session scripts answer when the index needs a session (a horizon); this writes it.
 */
export class RedisOwners {
  /** Deletes the owner indexes no session needs any more (they have no TTL: see INDEX_OWNER). */
  readonly sweep: RedisOwnerSweep;
  private readonly commands: () => RedisCommands;
  private readonly key: (id: string) => string;
  private readonly prefix: string;
  private readonly clock: () => number;
  private readonly extraMs: string;
  private readonly logger: Logger;
  private readonly reaper: string;
  /**
   * Owners whose registration for the sweep failed (owner → horizon), registered again before the
   * next sweep: unregistered, an owner's keys (no TTL) were never swept. Bounded: past it, as before.
   */
  private readonly unregistered = new Map<string, number>();

  constructor(context: RedisOwnersContext) {
    ({ commands: this.commands, key: this.key, prefix: this.prefix, clock: this.clock, extraMs: this.extraMs, logger: this.logger } = context);
    this.reaper = `${this.prefix}owners`;
    this.sweep = new RedisOwnerSweep(
      this.commands,
      { reaper: this.reaper, index: (owner) => this.ownerKey(owner), book: (owner) => this.capKey(owner) },
      this.clock,
      context.sweepIntervalMs,
      this.logger,
      () => this.registerPending(),
    );
  }

  /**
   * Sign out everywhere: the owner's index (ZRANGE), then a script per session that removes it
   * only if it still has this owner (in parallel), then one script taking the entries it removed out
   * of the index. Other entries stay, and their horizon drops them: one of a session that exists
   * without this owner (a login may make it the owner's again before that removal, its entry being
   * the one there), and one of an id found absent, which may be a login whose claim indexed it before
   * its save: removed, its entry would be gone once the save lands, and the session (whose `u` says it
   * is indexed) missed by every later sign-out (review R5).
   */
  async revokeOwner(owner: string): Promise<number> {
    const ids = await this.ownerIds(owner, 'revokeOwner');
    const now = String(this.clock());
    const results = await Promise.all(ids.map((id) => this.commands().script(REVOKE, this.key(id), [now, this.extraMs, owner])));
    // Out of the index and the cap's book (their places free at once): those removed (1, 2) only.
    const gone = ids.flatMap((id, i) => (results[i] === 1 || results[i] === 2 ? [id, '2'] : []));
    if (gone.length > 0) await this.commands().script(UNINDEX_OWNER, this.ownerKey(owner), gone, false, [this.capKey(owner)]);
    return results.filter((r) => r === 1).length;
  }

  /**
   * The ids in the owner's index (one plain read: `ZRANGE`), entries past their horizon included (the
   * caller checks each session). An index of an older version is a set: `SMEMBERS` then.
   */
  private async ownerIds(owner: string, operation: string): Promise<string[]> {
    const ownerKey = this.ownerKey(owner);
    const members = await this.commands()
      .command(ownerKey, ['ZRANGE', ownerKey, '0', '-1'], operation)
      .catch((error: unknown) => {
        if (!(error instanceof SessionStateCorruptError)) throw error;
        return this.commands().command(ownerKey, ['SMEMBERS', ownerKey], operation);
      });
    return list(members).map((m) => String(m));
  }

  /**
   * maxSessionsPerOwner: the owner's book is a sorted set in the owner's slot (`CLAIM_OWNER_SLOT`,
   * one script), so a sign-in under the cap costs one round trip. At the cap, its entries are
   * checked (`OWNED`, a script per session, in parallel), and a revoked session costs `REVOKE`.
   */
  async claimOwnerSlot(claim: OwnerSlotClaim): Promise<OwnerSlotAnswer> {
    const book = this.capKey(claim.owner);
    // A place taken enters the id in the owner index (CLAIM_OWNER_SLOT) for this long: the owner is
    // registered for the sweep as long, beside the claim (best effort: the save's index registers again).
    const keep = Math.max(1, claim.pendingMs, claim.keepMs ?? 0);
    // (+ 1 s: the claim reads the clock a moment later; a sweep that came before the entry's end would only come again.)
    const registered = this.registerOwner(claim.owner, this.clock() + keep + 1000).catch(() => undefined);
    const answer = await claimOwnerSlot(
      {
        clock: this.clock,
        tryClaim: async ({ id, replacing, max, pendingMs, keepMs }, dead, now) => {
          const args = [id, replacing ?? '', String(max), String(now), String(Math.max(pendingMs, keepMs ?? 0)), String(pendingMs)];
          for (const [gone, at] of dead) args.push(gone, String(at));
          const keys = [this.ownerKey(claim.owner), `${book}:moves`];
          const reply = list(await this.commands().script(CLAIM_OWNER_SLOT, book, args, false, keys));
          if (code(reply) === 'OK') return true;
          const [zset, movesSet] = [list(reply[1]), list(reply[2])];
          const entries = new Map<string, number>();
          for (let i = 0; i + 1 < zset.length; i += 2) entries.set(String(zset[i]), integer(zset[i + 1]));
          const moves = new Map<string, string>();
          for (const pair of movesSet) {
            const [moved, from] = String(pair).split(' ');
            if (from !== undefined) moves.set(moved!, from);
          }
          return { entries, moves };
        },
        liveOf: async (owner, ids, absoluteMs) => {
          const now = String(this.clock());
          const absolute = absoluteMs === undefined ? '' : String(absoluteMs);
          const owned = await Promise.all(ids.map((id) => this.commands().script(OWNED, this.key(id), [now, owner, absolute])));
          const found = { live: new Set<string>(), ended: new Set<string>(), created: new Map<string, number>() };
          ids.forEach((id, i) => {
            const reply = owned[i];
            if (reply === 2) found.ended.add(id);
            else if (reply === 1) found.live.add(id);
            else if (reply instanceof Buffer) {
              // Live, with its created time (what orders places taken at once).
              found.live.add(id);
              const created = Number(String(reply));
              if (Number.isFinite(created)) found.created.set(id, created);
            }
          });
          return found;
        },
        revoke: async (owner, ids) => {
          const now = String(this.clock());
          const results = await Promise.all(ids.map((id) => this.commands().script(REVOKE, this.key(id), [now, this.extraMs, owner])));
          // As revokeOwner: only the ids REVOKE removed (1, 2) leave the index (the book: the claim's next round).
          const gone = ids.flatMap((id, i) => (results[i] === 1 || results[i] === 2 ? [id, '1'] : []));
          if (gone.length === 0) return;
          this.commands()
            .script(UNINDEX_OWNER, this.ownerKey(owner), gone, false, [this.capKey(owner)])
            .catch(() => undefined);
        },
      },
      claim,
    );
    await registered;
    return answer;
  }

  async releaseOwnerSlot(owner: string, id: string): Promise<void> {
    const book = this.capKey(owner);
    await this.commands().command(book, ['ZREM', book, id], 'releaseOwnerSlot');
  }

  /**
   * A user's sessions: the owner's index (ZRANGE), then one HMGET of six small fields per session
   * (in parallel; never the items), keeping those live and still of this owner. Entries the index
   * holds for sessions gone or given to another owner are skipped (revokeOwner cleans them).
   */
  async listOwnerSessions(owner: string): Promise<SessionStateOwnedSession[]> {
    const ids = await this.ownerIds(owner, 'listOwnerSessions');
    const now = this.clock();
    const replies = await Promise.all(
      ids.map((id) => this.commands().command(this.key(id), ['HMGET', this.key(id), 'v', 'e', 't', 'o', 'f', 'c', 'a'], 'listOwnerSessions')),
    );
    const sessions: SessionStateOwnedSession[] = [];
    replies.forEach((reply, i) => {
      const [version, expires, timeout, storedOwner, flags, created, client] = list(reply);
      const expiry = Number(String(expires));
      const minutes = Number(String(timeout));
      if (String(version) !== '1' || !(expiry > now) || !(minutes > 0) || flags !== null || String(storedOwner) !== owner) return;
      const session: { -readonly [K in keyof SessionStateOwnedSession]: SessionStateOwnedSession[K] } = {
        id: ids[i]!,
        expires: expiry,
        timeout: minutes,
      };
      const since = created === null ? Number.NaN : Number(String(created));
      if (Number.isFinite(since)) session.created = since;
      if (client !== null) session.client = String(client);
      sessions.push(session);
    });
    return sessions;
  }

  /** Sign out one session: the revokeOwner script on it (removes it only if it has this owner), then its SREM. */
  async revokeItem(id: string, owner: string): Promise<boolean> {
    const reply = await this.commands().script(REVOKE, this.key(id), [String(this.clock()), this.extraMs, owner]);
    // Awaited: its place in the cap's book is free when this answers. Not for an absent id (3): it may
    // be a login's claim whose save is under way (see revokeOwner); its horizon drops its entry.
    if (reply === 1 || reply === 2) await this.unindexOwnerNow(id, owner);
    return reply === 1;
  }

  ownerKey(owner: string): string {
    return `${this.prefix}owner:{${ownerTag(owner)}}`;
  }

  /** The owner's book for maxSessionsPerOwner, in the owner index's slot. */
  capKey(owner: string): string {
    return `${this.ownerKey(owner)}:cap`;
  }

  /**
   * The owner index needs this session until `until` (a script's answer): one more round trip, at a
   * login and then at most once per timeout of activity. A failure does not fail the call (the
   * session's own write is done): the horizon is cleared, so the session's next call tries again.
   */
  async indexOwner(id: string, owner: string | undefined, until: RedisReply | undefined, now: number, settle = false): Promise<void> {
    // Every script that answers a horizon answers the session's owner with it.
    if (until === null || until === undefined || owner === undefined) return;
    try {
      // The entry and the owner's registration for the sweep, sent together (two slots on a cluster).
      // `settle`: right after a reconnect (a save sent again), they wait for the connection too.
      const horizon = String(integer(until));
      await Promise.all([
        this.commands().script(INDEX_OWNER, this.ownerKey(owner), [id, horizon, String(now)], settle, [this.capKey(owner)]),
        this.registerOwner(owner, integer(until), settle),
      ]);
    } catch (error) {
      this.logger.warn(`Updating an owner's session index failed: ${(error as Error).message}`);
      this.commands()
        .command(this.key(id), ['HDEL', this.key(id), 'u'], 'owner index')
        .catch(() => undefined);
    }
  }

  /** The sweep looks at `owner` at `until` at the latest (epoch ms); the sweep's timer starts with the first. */
  private async registerOwner(owner: string, until: number, settle = false): Promise<void> {
    this.sweep.start();
    const horizon = Math.floor(until);
    try {
      await this.commands().script(REAP_REGISTER, this.reaper, [owner, String(horizon)], settle);
    } catch (error) {
      this.registerLater(owner, horizon);
      throw error;
    }
  }

  private registerLater(owner: string, horizon: number): void {
    if (this.unregistered.size >= MAX_UNREGISTERED && !this.unregistered.has(owner)) return;
    this.unregistered.set(owner, Math.max(horizon, this.unregistered.get(owner) ?? 0));
  }

  /** The registrations that failed, made again (by the sweep, first); those that fail again wait for the next. */
  async registerPending(): Promise<void> {
    const pending = [...this.unregistered];
    this.unregistered.clear();
    await Promise.all(
      pending.map(([owner, horizon]) =>
        this.commands()
          .script(REAP_REGISTER, this.reaper, [owner, String(horizon)])
          .catch(() => this.registerLater(owner, horizon)),
      ),
    );
  }

  /**
   * The session no longer has `owner`: its index entry and its place in the owner's cap book go (one
   * script, best effort, not awaited; revokeOwner, the cap's check and the sweep clean what stays).
   */
  unindexOwner(id: string, owner: RedisReply | undefined): void {
    if (owner === null || owner === undefined) return;
    this.unindexOwnerNow(id, String(owner)).catch(() => undefined);
  }

  private async unindexOwnerNow(id: string, owner: string): Promise<void> {
    await this.commands().script(UNINDEX_OWNER, this.ownerKey(owner), [id, '2'], false, [this.capKey(owner)]);
  }
}

/**
 * The hash tag of an owner's keys: the owner itself, but a digest of one with a brace (`}x` would make
 * an empty tag, `{}`: Redis then hashes the whole key, and the index and its book land in two slots of a
 * cluster, where every script of theirs fails CROSSSLOT; found by a review).
 */
function ownerTag(owner: string): string {
  return owner.includes('{') || owner.includes('}') ? `#${createHash('sha1').update(owner).digest('base64url')}` : owner;
}
