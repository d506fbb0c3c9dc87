import { SessionStateCorruptError, SessionStateEndedError } from '../errors/session-state.errors.js';
import type { SessionStateStore, SessionStateStoreData } from '../store/session-state-store.js';
import type { SessionLease } from './session-lease.js';

/** Whether `absoluteTimeout` (`limitMs`; null: none) has passed since the session was created or its id last regenerated. */
export function pastAbsoluteTimeout(item: Pick<SessionStateStoreData, 'created'>, limitMs: number | null, now = Date.now()): boolean {
  return limitMs !== null && item.created !== undefined && now - item.created >= limitMs;
}

/**
 * Whether the session a stream read its snapshot of still exists: a GraphQL subscription asks before
 * each event, as a WebSocket message loads its session before it runs. An ended session (revoked,
 * signed out, expired, moved by a login, unreadable, past `absoluteTimeout`) rejects with
 * `SessionStateEndedError`; a store failure rejects with its error (the stream cannot tell, so it
 * stops: never an event of a session that may be revoked). Cost: one `getItem` (no lock, no write),
 * shared by the checks of one session made in the same turn of the event loop in this process (a
 * publish that reaches several subscriptions of one user); none past `absoluteTimeout`, which the
 * snapshot tells.
 */
export class SessionLiveness {
  /** The read in flight per session id. */
  private readonly reads = new Map<string, Promise<void>>();

  constructor(
    private readonly store: SessionStateStore,
    private readonly absoluteTimeoutMs: number | null,
    /** Counts a refusal (metrics `session_state.request.rejected`, as a refused WebSocket message). */
    private readonly rejected: (error: unknown) => void,
  ) {}

  /** Resolves while the lease's session lives; rejects once it has ended (see above). */
  check(lease: SessionLease): Promise<void> {
    const { id } = lease.session;
    let read: Promise<void>;
    if (lease.loaded && pastAbsoluteTimeout(lease.loaded, this.absoluteTimeoutMs)) {
      read = Promise.reject(new SessionStateEndedError());
    } else {
      const pending = this.reads.get(id);
      if (pending) {
        read = pending;
      } else {
        read = this.read(id);
        this.reads.set(id, read);
        const forget = () => {
          if (this.reads.get(id) === read) this.reads.delete(id);
        };
        read.then(forget, forget);
        // Shared within this turn only (a publish fanned out to several streams of one user): a later
        // check reads anew, so a store call that never answers holds up only the checks that joined it.
        setImmediate(forget);
      }
    }
    return read.catch((error: unknown) => {
      this.rejected(error);
      throw error;
    });
  }

  private async read(id: string): Promise<void> {
    let found;
    try {
      found = await this.store.getItem(id);
    } catch (error) {
      // The next request of this id would start a new session: this one has ended.
      if (error instanceof SessionStateCorruptError) throw new SessionStateEndedError();
      throw error;
    }
    // Held by a request ('locked'): it exists. Its record tells its creation only when not held.
    if (found.kind === 'absent' || (found.kind === 'loaded' && pastAbsoluteTimeout(found.item, this.absoluteTimeoutMs))) {
      throw new SessionStateEndedError();
    }
  }
}
