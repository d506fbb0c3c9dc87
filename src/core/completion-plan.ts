/**
 * What the end of a request does with its session: the decision of `SessionStateLifecycle`'s
 * completion, apart from its I/O. Pure: plain facts in, a plan out; the lifecycle executes it.
 */

export type RequestOutcome = 'succeeded' | 'failed';

/** What the completion depends on, read off the lease, its session and its exchange. */
export interface CompletionFacts {
  /** The request held the session read-only (no lock, nothing to save). */
  readonly readOnly: boolean;
  readonly outcome: RequestOutcome;
  /** A record exists under the id the session was loaded with (false: a session new to the store). */
  readonly stored: boolean;
  /** The request holds the store lock of that record. */
  readonly hasLock: boolean;
  /** `abandon()` was called. */
  readonly abandoned: boolean;
  /** The request came with a session cookie (valid and well signed). Only read when `abandoned`. */
  readonly cameWithCookie: boolean;
  /** A mid-request save (`req.session.save()`) already sent this session's cookie on the answer. */
  readonly cookieSent: boolean;
  /** `regenerateId()` was called: the session moves to a new id. */
  readonly regenerated: boolean;
  /** The session was created by this request (or its record was never initialised). */
  readonly isNew: boolean;
  /** The items differ from those loaded. Only read when the changes are kept (see `keepsChanges`). */
  readonly itemsChanged: boolean;
  /** The items are `{}`. Only read when the changes are kept. */
  readonly itemsEmpty: boolean;
  /** The session has an owner (sessions per user). */
  readonly hasOwner: boolean;
  readonly timeoutChanged: boolean;
  readonly ownerChanged: boolean;
  /**
   * A Set-Cookie can still reach the client (false once the answer left; a WebSocket message; a request
   * whose path is outside `cookie.path`, where the browser would never send the cookie back).
   */
  readonly canSetCookie: boolean;
  /** Why not, when `canSetCookie` is false because of the request's path (only read for the log). */
  readonly outsideCookiePath?: boolean;
  /** Why not, when `canSetCookie` is false because the exchange is a connection's message (only read for the log). */
  readonly message?: boolean;
  /** The cookie was signed with an older secret: sign it again. */
  readonly resignCookie: boolean;
  /** Read-only: the stored expiry is old enough to slide it. */
  readonly refreshExpiry: boolean;
  /** The cookie's lifetime changed, or a persistent cookie's expiry slides with the session (`renewsCookie`). */
  readonly renewsCookie: boolean;
}

/**
 * What is done to the store. `release`, `remove`, a hand-over `save` and a `move` that removes the old
 * record need the request's lock: they are planned only when it holds one.
 */
export type StoreStep =
  | { readonly kind: 'none' }
  /** Read-only: slide the expiry of the loaded record. */
  | { readonly kind: 'reset-timeout' }
  /** Release the lock (or hand it to a waiter of this process): nothing saved. */
  | { readonly kind: 'release' }
  /** Save the data under the loaded id and release the lock; with `handOver`, to a waiter of this process if one waits. */
  | { readonly kind: 'save'; readonly handOver: boolean }
  /** A new record under the session's id. */
  | { readonly kind: 'create' }
  /** `regenerateId()`: a new record under the new id, then (`removeOld`) the loaded one goes. */
  | { readonly kind: 'move'; readonly removeOld: boolean }
  /** `abandon()`: the loaded record goes. */
  | { readonly kind: 'remove' };

/**
 * The Set-Cookie of the answer. `set` (the id the store step writes) and `clear` are made before
 * the store step and sent after it: a cookie that cannot be made leaves no record behind, and a new
 * id reaches the client only once it is stored. `renew` (the same id, a fresh expiry or signature)
 * is made and sent after the store step.
 */
export type CookieStep = 'none' | 'set' | 'renew' | 'clear';

export interface CompletionPlan {
  readonly store: StoreStep;
  readonly cookie: CookieStep;
  /** Logged before the store step. */
  readonly log?: { readonly level: 'warn' | 'error'; readonly message: string };
}

/**
 * Why a cookie could not be set. An answer sent through `@Res()`/`@Next()` is held until the session
 * is saved; one sent another way (`req.res`, an outer interceptor or filter writing the response) is not.
 */
export const SENT_BEFORE_SAVED =
  'the response was sent before the session was saved, by code the module does not hold the answer of. ' +
  'A handler that sends its answer itself should take the response with @Res() (its answer then waits for the session).';

/** Why a cookie could not be set on a request outside `cookie.path`. */
export const OUTSIDE_COOKIE_PATH =
  "the request's path is outside cookie.path, where the browser would never send the cookie back. " +
  'Set cookie.path to a prefix of every route that writes to the session.';

const NONE: StoreStep = { kind: 'none' };

/** Why a cookie could not be set on a message of a connection (a WebSocket, a GraphQL subscription). */
export const MESSAGE_SETS_NO_COOKIE = 'a message of a connection (a WebSocket, a GraphQL subscription) cannot set a cookie. Log in over HTTP.';

const whyNoCookie = (f: CompletionFacts) => (f.message ? MESSAGE_SETS_NO_COOKIE : f.outsideCookiePath ? OUTSIDE_COOKIE_PATH : SENT_BEFORE_SAVED);

/**
 * Whether the request's changes are kept (a read-write request that succeeded and did not abandon
 * its session): only then is the data serialised, and `itemsChanged`/`itemsEmpty` read.
 */
export function keepsChanges(f: Pick<CompletionFacts, 'readOnly' | 'outcome' | 'abandoned'>): boolean {
  return !f.readOnly && f.outcome === 'succeeded' && !f.abandoned;
}

/** New and still empty (no items, no owner): nothing is stored and no cookie sent. */
const isNewAndEmpty = (f: CompletionFacts) => !f.stored && f.itemsEmpty && !f.hasOwner;

/** Anything the store must learn: a new session, new items, a new timeout or owner. */
const shouldSave = (f: CompletionFacts) => !f.stored || f.isNew || f.itemsChanged || f.timeoutChanged || f.ownerChanged;

/** A saved session's cookie: a new one, one signed again, one whose lifetime changed or slides. */
const shouldSetCookie = (f: CompletionFacts) => f.canSetCookie && (f.isNew || f.resignCookie || f.renewsCookie);

/** An unchanged session's cookie, sent again for a new signature or expiry. */
const shouldRenewCookie = (f: CompletionFacts) => f.canSetCookie && (f.resignCookie || f.renewsCookie);

/** Read-only: the cookie is renewed only with the record's expiry, or signed again; on success only. */
const shouldRefreshCookie = (f: CompletionFacts) =>
  f.stored && f.outcome === 'succeeded' && f.canSetCookie && (f.resignCookie || (f.refreshExpiry && f.renewsCookie));

/** Whether a store step writes the session (what a failed request's discard loses). */
export const writesSession = (step: StoreStep): boolean =>
  step.kind === 'save' || step.kind === 'create' || step.kind === 'move' || step.kind === 'remove';

export function planCompletion(f: CompletionFacts): CompletionPlan {
  // Read-only: nothing to save; the expiry slides only when much of it has elapsed.
  if (f.readOnly) {
    return { store: f.refreshExpiry ? { kind: 'reset-timeout' } : NONE, cookie: shouldRefreshCookie(f) ? 'renew' : 'none' };
  }
  // The handler (or a pipe, or a guard) threw: its changes are discarded.
  if (f.outcome === 'failed') return { store: f.hasLock ? { kind: 'release' } : NONE, cookie: 'none' };
  if (f.abandoned) {
    // A request that came without a session cookie has none to clear (as express-session and
    // @fastify/session), unless a mid-request save sent one.
    return { store: f.hasLock ? { kind: 'remove' } : NONE, cookie: (f.cameWithCookie || f.cookieSent) && f.canSetCookie ? 'clear' : 'none' };
  }
  // Regenerated to an empty session (a passport logout): the old record goes, and no empty one is
  // stored in its place (the client's cookie then names nothing: its next request starts afresh). A
  // cookie a mid-request save sent for the record removed is cleared.
  if (f.regenerated && f.stored && f.hasLock && f.itemsEmpty && !f.hasOwner) {
    return { store: { kind: 'remove' }, cookie: f.cookieSent && f.canSetCookie ? 'clear' : 'none' };
  }
  // New and still empty, regenerated or not (an anonymous visitor's logout): nothing stored nor announced.
  if (isNewAndEmpty(f)) return { store: NONE, cookie: 'none' };
  if (f.regenerated) {
    // The data moves to the new id, then the old record goes; the new cookie goes out only once the
    // old id is gone (a failure in between leaves the client on its old session, never both ids).
    if (f.canSetCookie) return { store: { kind: 'move', removeOld: f.hasLock }, cookie: 'set' };
    // The new id cannot reach the client: moving the data would log the user out and lose it.
    return {
      store: f.stored && f.hasLock ? { kind: 'save', handOver: false } : NONE,
      cookie: 'none',
      log: { level: 'error', message: 'regenerateId(): ' + whyNoCookie(f) + ' The session was kept under its current id.' },
    };
  }
  // A new record that no cookie names must never be written.
  if (!f.stored && !f.canSetCookie) {
    return {
      store: NONE,
      cookie: 'none',
      log: { level: 'warn', message: 'The session cookie could not be set: ' + whyNoCookie(f) + ' The new session was not stored.' },
    };
  }
  if (shouldSave(f)) {
    const store: StoreStep = !f.stored ? { kind: 'create' } : { kind: 'save', handOver: f.hasLock };
    return { store, cookie: shouldSetCookie(f) ? 'set' : 'none' };
  }
  return { store: f.hasLock ? { kind: 'release' } : NONE, cookie: shouldRenewCookie(f) ? 'renew' : 'none' };
}
