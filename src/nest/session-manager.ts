import { Inject, Injectable } from '@nestjs/common';
import { SessionStateError } from '../errors/session-state.errors.js';
import { OBSERVED_SESSION_STATE_STORE, SESSION_STATE_OPTIONS } from '../module/session-state.constants.js';
import type { ResolvedSessionStateOptions } from '../module/session-state.options.js';
import { parseClientSummary, type SessionClient } from '../session/client-summary.js';
import type { HttpSessionState } from '../session/http-session-state.js';
import { isWellFormedSessionHandle, sessionHandleOf } from '../session/session-handle.js';
import { SessionStateStore, type SessionStateOwnedSession } from '../store/session-state-store.js';

/** One of a user's sessions, as `SessionManager.list` shows it: never its id. */
export interface OwnerSessionInfo {
  /** Names the session for `revoke` (an opaque digest of its id: useless as a cookie). */
  readonly handle: string;
  /** Whether it is the caller's own session. */
  readonly current: boolean;
  /** When it was created or its id last regenerated (at login); null for a session stored before this was recorded. */
  readonly created: Date | null;
  /**
   * Its last activity: its expiry minus its timeout. Exact for requests that write (their lock
   * slides the expiry); a read-only request slides it only once half the timeout has passed, so
   * reads alone show up to half a timeout late. The same on every store (the lifecycle decides).
   */
  readonly lastActive: Date;
  /** When it expires if idle from now on (the absolute lifetime, if sooner). */
  readonly expires: Date;
  /** The user agent summary and address it was created from: only with `recordClient`. */
  readonly client: SessionClient | null;
}

/**
 * A user's sessions (where am I signed in?), sign out one, sign out all others. Everything acts
 * within the owner of the caller's session (`session.owner`, set by the app at login): a handle of
 * another owner's session, a forged or a stale one is refused alike (`revoke` answers false),
 * whether or not a session by that handle exists. Needs a store with `listOwnerSessions` and
 * `revokeItem` (memory, DynamoDB, Redis). A request holding a revoked session at that moment is
 * fenced out (its save answers 409 and writes nothing); its next request starts a new session. For
 * every session of an owner, from anywhere (an admin screen), see `SessionRevoker.revokeOwner`.
 */
@Injectable()
export class SessionManager {
  constructor(
    @Inject(OBSERVED_SESSION_STATE_STORE) private readonly store: SessionStateStore,
    @Inject(SESSION_STATE_OPTIONS) private readonly options: ResolvedSessionStateOptions,
  ) {}

  /** The handle of `session` (to mark it in a list, or compare): the same `list` shows. */
  handleOf(session: HttpSessionState): string {
    return sessionHandleOf(session.id);
  }

  /**
   * The live sessions of the caller's owner, the caller's first, then by last activity, newest
   * first. Empty when the session has no owner (not signed in). Cost: the store's
   * `listOwnerSessions` (see docs/SESSIONS-PER-USER.md), no write.
   */
  async list(session: HttpSessionState): Promise<OwnerSessionInfo[]> {
    const sessions = await this.ownerSessions(session);
    const own = ownIds(session);
    return sessions
      .map((stored) => this.infoOf(stored, own.has(stored.id)))
      .sort((a, b) => Number(b.current) - Number(a.current) || b.lastActive.getTime() - a.lastActive.getTime());
  }

  /**
   * Signs out the session named by `handle`, if it is one of the caller's owner's: answers true, or
   * false for anything else (another owner's, forged, stale, malformed). The caller's own handle
   * abandons the caller's session (removed at the end of this request); on a read-only route, which
   * holds no lock and cannot abandon it, the store removes it at once, as another of the owner's.
   */
  async revoke(session: HttpSessionState, handle: string): Promise<boolean> {
    if (!isWellFormedSessionHandle(handle) || session.owner === undefined) return false;
    if (handle === sessionHandleOf(session.id) || (session.previousId !== undefined && handle === sessionHandleOf(session.previousId))) {
      if (session.isReadOnly) return this.revokeItem(session.id, session.owner);
      session.abandon();
      return true;
    }
    const target = (await this.ownerSessions(session)).find((stored) => sessionHandleOf(stored.id) === handle);
    if (!target || ownIds(session).has(target.id)) return false;
    return this.revokeItem(target.id, session.owner);
  }

  /**
   * Signs out every other session of the caller's owner (keeps the caller's); answers how many.
   * A session the owner signs in with while this runs may survive it.
   */
  async revokeOthers(session: HttpSessionState): Promise<number> {
    const owner = session.owner;
    if (owner === undefined) return 0;
    const own = ownIds(session);
    const others = (await this.ownerSessions(session)).filter((stored) => !own.has(stored.id));
    const revoked = await Promise.all(others.map((stored) => this.revokeItem(stored.id, owner)));
    return revoked.filter(Boolean).length;
  }

  /** The owner's live sessions, those past their absolute lifetime left out (they are gone to every request). */
  private async ownerSessions(session: HttpSessionState): Promise<SessionStateOwnedSession[]> {
    const owner = session.owner;
    if (owner === undefined) return [];
    if (!this.store.listOwnerSessions || !this.store.revokeItem) throw unsupported();
    const sessions = await this.store.listOwnerSessions(owner);
    const limit = this.options.absoluteTimeoutMs;
    if (limit === null) return sessions;
    const now = Date.now();
    return sessions.filter((stored) => stored.created === undefined || now - stored.created < limit);
  }

  private revokeItem(id: string, owner: string): Promise<boolean> {
    if (!this.store.revokeItem) throw unsupported();
    return this.store.revokeItem(id, owner);
  }

  private infoOf(stored: SessionStateOwnedSession, current: boolean): OwnerSessionInfo {
    const limit = this.options.absoluteTimeoutMs;
    const expires = limit !== null && stored.created !== undefined ? Math.min(stored.expires, stored.created + limit) : stored.expires;
    return {
      handle: sessionHandleOf(stored.id),
      current,
      created: stored.created === undefined ? null : new Date(stored.created),
      lastActive: new Date(stored.expires - stored.timeout * 60_000),
      expires: new Date(expires),
      client: parseClientSummary(stored.client) ?? null,
    };
  }
}

/** The caller's session ids: its id, and the id it was loaded under when `regenerateId()` moved it. */
function ownIds(session: HttpSessionState): Set<string> {
  return new Set(session.previousId === undefined ? [session.id] : [session.id, session.previousId]);
}

function unsupported(): SessionStateError {
  return new SessionStateError(
    `The configured session store does not implement listOwnerSessions and revokeItem: SessionManager needs both ` +
      '(InMemorySessionStateStore, DynamoDBSessionStateStore and RedisSessionStateStore have them).',
  );
}
