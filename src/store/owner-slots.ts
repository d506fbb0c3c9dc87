/**
 * A cap on the sessions of one owner (`maxSessionsPerOwner`): the shared part of the stores'
 * `claimOwnerSlot`. Each store keeps, per owner, a strongly consistent book of the sessions that
 * took a place among the owner's (id → when, epoch ms) and offers two atomic steps on it
 * (`OwnerSlotBook`); the loop here decides with them. Why a book and not a count of the stored
 * sessions: DynamoDB's owner index is eventually consistent, and a Redis cluster keeps the owner's
 * sessions on other slots, so neither can count and add in one atomic step; the book can.
 *
 * The book may hold more than the live sessions (one expired, abandoned, moved, or given another
 * owner keeps its entry): it is checked only when it looks full, and an entry found dead then goes.
 * It never holds less, because every session that gets an owner takes its place first, and a place
 * is given back only when its save certainly wrote nothing. Hence, with the book's step atomic,
 * the live sessions of an owner never exceed the cap, whatever the instances and their interleaving.
 */

/** What to do when an owner signs in a session beyond `maxSessionsPerOwner`. */
export type OwnerCapPolicy = 'refuse' | 'revoke-oldest';

export interface OwnerSlotClaim {
  readonly owner: string;
  /** The session taking its place (its id once saved). */
  readonly id: string;
  /** The id the session moves from (`regenerateId()`): not counted, it is this session. */
  readonly replacing?: string;
  readonly max: number;
  readonly policy: OwnerCapPolicy;
  /**
   * An entry whose session is not (yet) stored counts for this long after it was taken: its save may
   * still be under way. The module passes `executionTimeout`, the longest a request holds its lock.
   */
  readonly pendingMs: number;
}

/** The answer of `claimOwnerSlot`: the place taken (`revoked`: sessions of the owner revoked for it), or refused. */
export type OwnerSlotAnswer = { readonly admitted: true; readonly revoked: number } | { readonly admitted: false; readonly live: number };

/** The per-store part: the book's two atomic steps and what it needs to read and revoke sessions. */
export interface OwnerSlotBook {
  /**
   * In one atomic step: removes the entries `dead` (sessions found gone, id → the time their entry
   * had: one taken again since is kept), then, if `id` is in the book or the entries other than `id`
   * and `replacing` number fewer than `max`, sets `id`'s entry to `now`. Answers true, or the
   * book's entries as they are.
   */
  tryClaim(claim: OwnerSlotClaim, dead: ReadonlyMap<string, number>, now: number): Promise<true | ReadonlyMap<string, number>>;
  /** Which of `ids` are live sessions of `owner` now (a strongly consistent read). */
  liveOf(owner: string, ids: readonly string[]): Promise<ReadonlySet<string>>;
  /** Removes the sessions `ids` that are still `owner`'s (as revokeOwner does: a request holding one is fenced out). */
  revoke(owner: string, ids: readonly string[]): Promise<void>;
  readonly clock: () => number;
}

/** Rounds of claim and check before giving up: each round follows another instance's change of the book. */
const MAX_ROUNDS = 8;

/**
 * Takes a place for `claim.id` among its owner's sessions (see the file's note). Refused: the live
 * sessions, or those whose save may be under way, already fill the cap (`refuse`), or none of them
 * can be revoked to make room (`revoke-oldest`: all are pending saves), or the book kept changing.
 */
export async function claimOwnerSlot(book: OwnerSlotBook, claim: OwnerSlotClaim): Promise<OwnerSlotAnswer> {
  let dead = new Map<string, number>();
  let revoked = 0;
  let live = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const now = book.clock();
    const answer = await book.tryClaim(claim, dead, now);
    if (answer === true) return { admitted: true, revoked };
    const others = [...answer].filter(([id]) => id !== claim.id && id !== claim.replacing);
    const alive = await book.liveOf(
      claim.owner,
      others.map(([id]) => id),
    );
    // Not stored, but taken a moment ago: its save may be under way, so it counts (and stays).
    const pending = others.filter(([id, at]) => !alive.has(id) && now - at < claim.pendingMs);
    dead = new Map(others.filter(([id, at]) => !alive.has(id) && now - at >= claim.pendingMs));
    live = alive.size + pending.length;
    if (live < claim.max) continue; // room once the dead entries go: the next round claims it
    if (claim.policy === 'refuse') {
      if (dead.size === 0) return { admitted: false, live };
      // Clear the dead entries once (the claim is admitted if others left meanwhile), then refuse.
      const cleared = await book.tryClaim(claim, dead, book.clock());
      return cleared === true ? { admitted: true, revoked } : { admitted: false, live };
    }
    // revoke-oldest: the oldest live sessions go, as many as make room for this one.
    const victims = others
      .filter(([id]) => alive.has(id))
      .sort((a, b) => a[1] - b[1])
      .slice(0, live - claim.max + 1);
    if (victims.length === 0) return { admitted: false, live };
    await book.revoke(
      claim.owner,
      victims.map(([id]) => id),
    );
    revoked += victims.length;
    // Gone now (or no longer this owner's): their entries go in the next round's claim.
    for (const [id, at] of victims) dead.set(id, at);
  }
  return { admitted: false, live };
}
