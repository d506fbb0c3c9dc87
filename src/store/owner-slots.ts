/**
 * A cap on the sessions of one owner (`maxSessionsPerOwner`): the shared part of the stores'
 * `claimOwnerSlot`. Each store keeps, per owner, a strongly consistent book of the sessions that
 * took a place among the owner's (id → when, epoch ms) and offers two atomic steps on it
 * (`OwnerSlotBook`); the loop here decides with them. Why a book and not a count of the stored
 * sessions: DynamoDB's owner index is eventually consistent, and a Redis cluster keeps the owner's
 * sessions on other slots, so neither can count and add in one atomic step; the book can.
 *
 * A login on a device already signed in (`regenerateId()` of an owned session) claims the new id's
 * place while the old id keeps its own until the move's save ends: the book records the pair (new id
 * → the id it replaces), and while the move may be under way (`pendingMs` after its claim) the pair
 * counts as one place (`movesUnderWay`), so other sign-ins of the owner meanwhile see one device, not
 * two. After that its request is over: if both records still live (a move that never removed its
 * old record), they count as two.
 *
 * The book may hold more than the live sessions (one expired, past `absoluteTimeout`, abandoned,
 * moved, or given another owner keeps its entry): it is checked only when it looks full, and an
 * entry found dead then goes. It never holds less, because every session that gets an owner takes
 * its place first, a place is given back only when its save certainly wrote nothing or its session
 * is gone (removed, revoked), and a book the store makes (the owner's first claim, or one whose
 * store-side expiry passed) starts with the sessions the owner already has (those signed in before
 * the cap, scored 0: the oldest, and among them by their sessions' `created`). Hence, with the
 * book's step atomic, the live sessions of an owner never exceed the cap, whatever the instances
 * and their interleaving.
 */

/** What to do when an owner signs in a session beyond `maxSessionsPerOwner`. */
export type OwnerCapPolicy = 'refuse' | 'revoke-oldest';

export interface OwnerSlotClaim {
  readonly owner: string;
  /** The session taking its place (its id once saved). */
  readonly id: string;
  /**
   * The id the session moves from (`regenerateId()`): not counted, it is this session. The book
   * records the pair (`OwnerSlotEntries.moves`): other claims count it once while the move may be under way.
   */
  readonly replacing?: string;
  readonly max: number;
  readonly policy: OwnerCapPolicy;
  /**
   * An entry whose session is not (yet) stored counts for this long after it was taken: its save may
   * still be under way. The module passes `executionTimeout`, the longest a request holds its lock.
   */
  readonly pendingMs: number;
  /**
   * `absoluteTimeout` in ms, when set: a session created (or moved to its id) longer ago than this
   * is gone to every request whatever its expiry, so it frees its place like an expired one.
   */
  readonly absoluteMs?: number;
  /**
   * How long a store that expires the book (DynamoDB's TTL, Redis's PEXPIRE) keeps it after this
   * claim at least: the claimed session's own lifetime (`absoluteTimeout`, else its idle timeout),
   * never less than `pendingMs`. A book that expires while sessions live on is made again, from the
   * owner's sessions, at the next claim: it never loses one.
   */
  readonly keepMs?: number;
}

/** The answer of `claimOwnerSlot`: the place taken (`revoked`: sessions of the owner revoked for it), or refused. */
export type OwnerSlotAnswer = { readonly admitted: true; readonly revoked: number } | { readonly admitted: false; readonly live: number };

/** The book as a claim found it: its entries (id → when it took its place) and the moves it recorded (new id → the id it replaces). */
export interface OwnerSlotEntries {
  readonly entries: ReadonlyMap<string, number>;
  readonly moves: ReadonlyMap<string, string>;
}

/** The per-store part: the book's two atomic steps and what it needs to read and revoke sessions. */
export interface OwnerSlotBook {
  /**
   * In one atomic step: removes the entries `dead` (sessions found gone, id → the time their entry
   * had: one taken again since is kept) and the moves recorded for them, then, if `id` is in the
   * book or the entries other than `id` and `replacing` number fewer than `max` once each move under
   * way among them counts once (`movesUnderWay`), sets `id`'s entry to `now` and, with `replacing`,
   * records the move `id` → `replacing`. Answers true, or the book as it is. A book answering a bare
   * map (entries only, the form before moves were recorded) is still accepted: its moves count twice,
   * so a sign-in during another device's login may be refused or revoke one session too many.
   */
  tryClaim(claim: OwnerSlotClaim, dead: ReadonlyMap<string, number>, now: number): Promise<true | OwnerSlotEntries | ReadonlyMap<string, number>>;
  /**
   * Which of `ids` are live sessions of `owner` now (a strongly consistent read): unexpired, and,
   * with `absoluteMs`, created less than that long ago (a session without `created` counts as live).
   * `ended`: those stored as `owner`'s but past `absoluteMs`: their save landed, so their places are
   * free at once (an id not stored at all may be a save under way: see `pendingMs`).
   */
  liveOf(owner: string, ids: readonly string[], absoluteMs: number | undefined): Promise<OwnerSessionsFound>;
  /** Removes the sessions `ids` that are still `owner`'s (as revokeOwner does: a request holding one is fenced out). */
  revoke(owner: string, ids: readonly string[]): Promise<void>;
  readonly clock: () => number;
}

/** The answer of `OwnerSlotBook.liveOf`. */
export interface OwnerSessionsFound {
  readonly live: ReadonlySet<string>;
  readonly ended: ReadonlySet<string>;
  /**
   * When each live session was created or last moved to a new id (`SessionStateStoreData.created`),
   * for those that have it: it orders places taken at the same time (those of a book the store made,
   * all 0). Optional: without it, such places go in the book's order.
   */
  readonly created?: ReadonlyMap<string, number>;
}

/**
 * The moves under way that count as one place for `claim` (the same rule in every store's atomic
 * step): recorded pairs (new id → the id it replaces) with both entries in the book, neither of them
 * the claim's `id` or `replacing` (already left out), the new entry taken less than `pendingMs`
 * before `now`; each id in one pair at most.
 */
export function movesUnderWay(book: OwnerSlotEntries, claim: OwnerSlotClaim, now: number): [string, string][] {
  const pairs: [string, string][] = [];
  const used = new Set<string>([claim.id, ...(claim.replacing === undefined ? [] : [claim.replacing])]);
  for (const [moved, from] of book.moves) {
    const at = book.entries.get(moved);
    if (at === undefined || !book.entries.has(from) || used.has(moved) || used.has(from) || now - at >= claim.pendingMs) continue;
    used.add(moved).add(from);
    pairs.push([moved, from]);
  }
  return pairs;
}

/**
 * Rounds of claim and check before giving up. A round fails only when the book changed since it was
 * read: another sign-in of the owner took a place (or gave one up) in between, so every failed round
 * is another claim that went through; a burst of n sign-ins of one owner costs each at most n rounds.
 * 64 covers any number of devices a person signs in at once; beyond it (a script signing in one
 * owner without pause) the claim is refused (409) rather than run on.
 */
const MAX_ROUNDS = 64;

/**
 * While the book is full of places whose saves are under way (nothing live to revoke yet), a
 * `revoke-oldest` claim waits for them: pauses growing from 2 ms to 64 ms, at most this long in all,
 * then refuses. Those saves land within their request (milliseconds); one whose request died frees
 * its place only after `pendingMs`, and waiting that long would hold this request's lock for it.
 */
const PENDING_WAIT_MS = 2000;

/**
 * Takes a place for `claim.id` among its owner's sessions (see the file's note). Refused: the live
 * sessions, or those whose save may be under way, already fill the cap (`refuse`), or, with
 * `revoke-oldest`, the book stays full of saves under way for `PENDING_WAIT_MS`, or it changed on
 * every one of `MAX_ROUNDS` rounds. `revoke-oldest` revokes only what this claim needs: as many of
 * the oldest live sessions as the book holds beyond the cap with this one, re-read after each change.
 */
export async function claimOwnerSlot(book: OwnerSlotBook, claim: OwnerSlotClaim): Promise<OwnerSlotAnswer> {
  let dead = new Map<string, number>();
  let revoked = 0;
  let live = 0;
  let waited = 0;
  let pause = 2;
  for (let round = 0; round < MAX_ROUNDS;) {
    const now = book.clock();
    const answer = await book.tryClaim(claim, dead, now);
    if (answer === true) return { admitted: true, revoked };
    const found: OwnerSlotEntries = 'moves' in answer ? answer : { entries: answer, moves: new Map() };
    const others = [...found.entries].filter(([id]) => id !== claim.id && id !== claim.replacing);
    const {
      live: alive,
      ended,
      created,
    } = await book.liveOf(
      claim.owner,
      others.map(([id]) => id),
      claim.absoluteMs,
    );
    // Not stored, but taken a moment ago: its save may be under way, so it counts (and stays).
    const pending = others.filter(([id, at]) => !alive.has(id) && !ended.has(id) && now - at < claim.pendingMs);
    dead = new Map(others.filter(([id, at]) => !alive.has(id) && (ended.has(id) || now - at >= claim.pendingMs)));
    // A move under way whose two entries both count (live or pending) is one device: one place.
    const waiting = new Set(pending.map(([id]) => id));
    const counted = (id: string) => alive.has(id) || waiting.has(id);
    const moves = movesUnderWay(found, claim, now).filter(([moved, from]) => counted(moved) && counted(from));
    live = alive.size + pending.length - moves.length;
    round++;
    if (live < claim.max) continue; // room once the dead entries go: the next round claims it
    if (claim.policy === 'refuse') {
      if (dead.size === 0) return { admitted: false, live };
      // Clear the dead entries once (the claim is admitted if others left meanwhile), then refuse.
      const cleared = await book.tryClaim(claim, dead, book.clock());
      return cleared === true ? { admitted: true, revoked } : { admitted: false, live };
    }
    // revoke-oldest: the oldest live places go, as many as make room for this one. A move under way
    // is one place, as old as its new entry (the device signed in again then); it goes whole: its old
    // record revoked fences the move out (409), its new one, if already saved, goes too.
    const paired = new Set(moves.flat());
    const at = new Map(others);
    const places: [string[], number][] = [
      ...others.filter(([id]) => alive.has(id) && !paired.has(id)).map(([id, when]): [string[], number] => [[id], when]),
      ...moves.filter((pair) => pair.some((id) => alive.has(id))).map(([moved, from]): [string[], number] => [[moved, from], at.get(moved)!]),
    ];
    const victims = oldestFirst(places, created).slice(0, live - claim.max + 1);
    if (victims.length < live - claim.max + 1) {
      // Places of saves under way fill the book: wait for them to land (then they can be revoked).
      // Revoking none meanwhile: a claim never revokes fewer than it needs, to wait for the rest.
      if (waited >= PENDING_WAIT_MS) return { admitted: false, live };
      await delay(pause);
      waited += pause;
      pause = Math.min(pause * 2, 64);
      round--; // a wait is bounded by time, not by rounds
      continue;
    }
    const ids = victims.flatMap(([place]) => place);
    await book.revoke(claim.owner, ids);
    revoked += ids.filter((id) => alive.has(id)).length;
    // Gone now (or no longer this owner's): their entries go in the next round's claim.
    for (const id of ids) dead.set(id, at.get(id)!);
  }
  return { admitted: false, live };
}

/**
 * Places by when they were taken, then, among equals (the sessions a book the store made starts
 * with are all 0), by their session's `created`: the book's order among them is arbitrary (a Redis
 * sorted set sorts them by id, DynamoDB by nothing). A session without `created` predates it: oldest.
 */
function oldestFirst(places: [string[], number][], created: ReadonlyMap<string, number> | undefined): [string[], number][] {
  const since = ([ids]: [string[], number]) => ids.map((id) => created?.get(id)).find((at) => at !== undefined) ?? Number.NEGATIVE_INFINITY;
  return places
    .map((place) => ({ place, since: since(place) }))
    .sort((a, b) => a.place[1] - b.place[1] || (a.since === b.since ? 0 : a.since < b.since ? -1 : 1))
    .map(({ place }) => place);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
