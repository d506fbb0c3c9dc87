import { earlierReadOf, keepEarlierRead, type EarlierRead } from '../../../core/earlier-read.js';
import { acquisitionOf, attachLease, leaseOf, type SessionLease } from '../../../core/session-lease.js';
import { SessionStateBehavior } from '../../../core/session-state-behavior.enum.js';
import type { SessionStateLifecycle } from '../../../core/session-state.lifecycle.js';
import { HttpSessionState } from '../../../session/http-session-state.js';
import { SessionStateEndedWhileWaitingError, SessionStateLockLostError } from '../../../errors/session-state.errors.js';
import { HttpExchange } from '../http-exchange.js';
import { toHttpException } from '../to-http-exception.js';
import { ownerOfPassportUser } from './passport-owner.js';

/** Why a write through `req.session` is refused in a request that holds no session lock. */
export const NO_LOCK_MESSAGE =
  'req.session was written in a request that holds no session lock (its route or GraphQL operation is read-only, or does not use the session, ' +
  'or the route is not known yet: a middleware): declare the route or resolver @SessionState(SessionStateBehavior.Required) to write to the session.';

/** The mount's own load: kept apart from the request's acquisition (the route decides that one). */
class MountExchange extends HttpExchange {
  readonly readOnlyReason = NO_LOCK_MESSAGE;
  readonly defersRefusal = true;
}

/**
 * Why a route that writes is refused (409) when a middleware changed `req.session` before it and
 * another request changed the session meanwhile: the middleware computed from data that is no
 * longer the session's, and carrying its values over would silently undo the other request's write.
 */
export const CHANGED_WHILE_WAITING_MESSAGE =
  'req.session was changed before the route was known (by a middleware), but another request of this session changed it ' +
  'meanwhile: the change was not saved and the route was not run. Retry the request.';

/** Why `save()` is refused before the route is known. */
export const SAVE_BEFORE_ROUTE_MESSAGE =
  'req.session.save() was called before the route was known (by a middleware, e.g. passport.authenticate() used with app.use()): ' +
  'no session lock is held to save under. Run it in a guard or handler of a route declared ' +
  "@SessionState(SessionStateBehavior.Required) (e.g. @nestjs/passport's AuthGuard).";

/** The request's `req.session` binding, when the mount loaded it (kept as the request's earlier read). */
export function requestSessionOf(request: object): RequestSessionBinding | undefined {
  const read = earlierReadOf(request);
  return read instanceof RequestSessionBinding ? read : undefined;
}

/**
 * What `req.session` is a view of, for one request. The mount (a middleware, or Fastify's
 * `onRequest`) loads the session read-only, so that middleware reading `req.session` (passport's
 * session strategy, connect-flash) finds it; the route's guard then decides: a route that writes
 * takes the lock (`lock()`, fresh data), any other keeps what was loaded (`useLoaded()`). One
 * session, one lock: `req.session`, `@Session()` and `SessionStateAccessor` all see the request's lease.
 */
export class RequestSessionBinding implements EarlierRead {
  /** The request as the lifecycle knows it (its key is the request): the locked lease's exchange. */
  readonly exchange: HttpExchange;
  private readonly mountExchange: HttpExchange;
  private loaded!: SessionLease;
  /** Whether the route's guard decided what the request holds. */
  private routed = false;
  /** What middleware changed before the route was known (see `session`), or a removal on a route without lock (`detachForRemoval`). */
  private early: HttpSessionState | undefined;
  /** Whether `req.session` shows `early` on a route without lock (after a removal there). */
  private detached = false;
  /** Whether `early` was carried over to the route's locked session. */
  private carried = false;
  /** A GraphQL request that uses no session (`routedWithoutSession`): its resolvers read what middleware left. */
  private graphqlWithoutSession = false;

  constructor(
    readonly lifecycle: SessionStateLifecycle,
    readonly request: object,
    private readonly response: object,
  ) {
    this.exchange = new HttpExchange(request, response);
    this.mountExchange = new MountExchange(request, response, 'http', this);
  }

  /**
   * Loads the session read-only: no cookie, no store call; with one, one read (`getItem`). Only a
   * loaded binding is put on the request: one whose load failed (the request was answered, or its
   * client left) is not there for the guard to find.
   */
  async load(): Promise<void> {
    let exchange = this.mountExchange;
    try {
      this.loaded = await this.lifecycle.acquire(exchange, SessionStateBehavior.ReadOnly, 'guard');
    } catch (error) {
      if (!(error instanceof SessionStateEndedWhileWaitingError)) throw error;
      // The request waited for a login or logout that moved or ended the session. Whatever uses the
      // session in this request (the route's guard or interceptor, GraphQL's hooks) is refused with
      // that error (409, retry), as without the mount; a route that does not use the session still
      // runs, with the session the cookie names now (none: a new, empty one), as with express-session.
      this.lifecycle.refuseLater(this.request, error);
      exchange = new MountExchange(this.request, this.response, 'http', {});
      this.loaded = await this.lifecycle.acquire(exchange, SessionStateBehavior.ReadOnly, 'guard');
    }
    this.endWhenClientLeaves(exchange);
    // Kept on the request: every later acquisition of it (the route's lock, GraphQL's hooks) sees `storedId`.
    keepEarlierRead(this.request, this);
  }

  /**
   * The mount's read ends when its answer goes out (see `SessionStateLifecycle.holdForGuard`, and
   * `completeLoadedAtAnswer`). A client that leaves before its answer may never get one (a long poll
   * that gives up, answering nothing): the read ends then, as the guard binding's lease does, rather
   * than at `executionTimeout` (an active lease that `app.close()` waits for). It holds no lock: what
   * the request still does reads the same session; a route that writes locks afresh (`lock`), and
   * one whose interceptor took the read over completes it itself.
   */
  private endWhenClientLeaves(exchange: HttpExchange): void {
    const lease = this.loaded;
    exchange.onClosed((answered) => {
      if (!answered && !lease.adopted && !lease.completion) this.lifecycle.discard(lease, exchange);
    });
  }

  /**
   * The id under which the mount's read found the session stored (see core/earlier-read.ts): a later
   * acquisition of this request that finds it absent is refused (409, retry) rather than given a new
   * session, whose cookie would replace a login's that moved the session in between.
   */
  /** See `EarlierRead.reader`: this application's lifecycle. */
  get reader(): object {
    return this.lifecycle;
  }

  get storedId(): string | undefined {
    return this.loaded.loaded !== null ? this.loaded.session.id : undefined;
  }

  /** Whether the route is not known yet (a middleware): `req.session` is then a copy that takes writes. */
  get beforeRoute(): boolean {
    return !this.routed && !leaseOf(this.request);
  }

  /** Whether the route is known and holds no lock (read-only, or does not use the session): writes are refused. */
  get withoutLock(): boolean {
    return !this.beforeRoute && this.current().behavior !== SessionStateBehavior.Required;
  }

  /**
   * A removal (a key deleted, `regenerate()` keeping nothing) on a route that holds no lock: what an
   * authentication strategy does to a login it can no longer find (@fastify/passport's `logOut()`,
   * from a promise chain whose rejection nobody handles). Applied to a copy of the session for this
   * request and not saved, with a warning, as a middleware's changes are: never a hang, never an
   * unhandled rejection. Anything else written there still throws at once.
   */
  detachForRemoval(): void {
    if (!this.withoutLock) return;
    if (!this.early) this.startCopy();
    this.detached = true;
  }

  /**
   * Whether a removal on a route that holds no lock (`detachForRemoval`: a logout, a key deleted) changed
   * this request's `req.session`: it is not saved. A GraphQL request's last answer says so (see
   * `GraphQLSessionHooks`); an HTTP route's answer is its handler's, and the warning at the answer says it.
   */
  get removedWithoutLock(): boolean {
    // Nothing stored (a visitor without a session): a removal there changes nothing that would be saved (review R41).
    return this.detached && this.early !== undefined && this.loaded.loaded !== null && hasChanges(this.early, this.loaded);
  }

  /** The lease `req.session` shows: the request's, once the route decided, else the one loaded at mount. */
  current(): SessionLease {
    return leaseOf(this.request) ?? this.loaded;
  }

  /**
   * The session `req.session` reads and writes. Before the route is known (the app's middleware:
   * passport's session strategy, which removes a user it can no longer find), a copy of the
   * loaded session that takes writes: they are carried over to the locked session of a route
   * that writes, and dropped, with a warning, by any other (see `lock` and `useLoaded`).
   */
  session(): HttpSessionState {
    // Routed, or the request's session acquired by others (a GraphQL request's hooks, a global guard's accessor).
    // A GraphQL request that uses no session reads what its middleware left (a stale user passport's
    // session strategy removed), as it did before its route was known; its writes are refused all the same (review R42).
    if (this.routed || leaseOf(this.request))
      return (this.detached || this.graphqlWithoutSession) && this.withoutLock && this.early ? this.early : this.current().session;
    return this.early ?? this.startCopy();
  }

  private startCopy(): HttpSessionState {
    this.early = earlyCopy(this.loaded);
    // Changes not carried over to a locked session (the route holds no lock, or none was known: a
    // GraphQL request) are not saved; said when the answer goes out.
    this.exchange.onAnswered(() => {
      if (!this.carried) this.warnUnsaved();
    });
    return this.early;
  }

  private warnUnsaved(): void {
    if (this.early && hasChanges(this.early, this.loaded)) {
      // A removal on a route without lock (`detachForRemoval`) or a middleware's change the route does not save.
      this.lifecycle.warn(
        'req.session was changed (by a middleware before the route was known, or a removal by an authentication strategy) ' +
          'in a request whose route holds no session lock: the change was not saved. ' +
          'Declare the route @SessionState(SessionStateBehavior.Required) to keep such changes.',
      );
    }
  }

  /**
   * A GraphQL request none of whose operations uses the session (its server hooks acquire nothing):
   * its resolvers are the route, and they hold no lock. A write through `req.session` there (passport's
   * login in a mutation not declared `Required`) is refused at once, saying so, rather than taken as a
   * middleware's, before the route is known. Its answer is the GraphQL server's: nothing to hold.
   */
  routedWithoutSession(): void {
    this.routed = true;
    this.graphqlWithoutSession = true;
  }

  /** A GraphQL request's locked session (its server hooks acquired it): passport's login there sets its owner too. */
  lockedByGraphQL(lease: SessionLease): void {
    ownedByPassportUser(lease);
  }

  /** A route that takes no lock: its handler (`@Session()`, `SessionStateAccessor`) gets the session loaded at mount. */
  useLoaded(): void {
    this.routed = true;
    if (acquisitionOf(this.request)) return;
    attachLease(this.request, this.loaded);
    if (!this.lifecycle.hasNothingToComplete(this.loaded)) this.completeLoadedAtAnswer();
  }

  /**
   * The loaded session's expiry slides, or its cookie is signed again (amortised: once per half
   * timeout, once per cookie after a secret rotation). Then its answer is held (Nest's own, as the
   * guard binding holds it) until the session is completed, by the answer's status, so that the
   * renewed cookie goes out with it: a route that does not use the session (`/me` behind a guard that
   * reads `req.isAuthenticated()`) keeps a persistent cookie alive as the store's expiry slides. A
   * route whose interceptor takes the session over completes it before its answer and lets go of this.
   */
  private completeLoadedAtAnswer(): void {
    const lease = this.loaded;
    const answer = this.exchange.holdAnswer({ sentByNest: true });
    lease.guardAnswer = answer;
    answer.onSending(() => {
      if (lease.adopted) return answer.release(lease.completion ?? Promise.resolve(), (error) => toHttpException(error, this.exchange));
      // A success (below 400) renews the cookie with the slide; a refusal slides it without a cookie, as any failed request.
      answer.release(this.lifecycle.complete(lease, this.exchange, this.lifecycle.outcomeOfAnswer(answer.status())), (error) =>
        toHttpException(error, this.exchange),
      );
    });
  }

  /**
   * A route that writes: the session is locked (and read afresh) for the request, as a guard's
   * `SessionStateAccessor` would; the interceptor completes it. Until then, an answer sent from a
   * guard (passport's redirects) is held until the session is completed.
   */
  async lock(): Promise<void> {
    this.lifecycle.drop(this.loaded);
    let lease: SessionLease;
    try {
      lease = await this.lifecycle.acquire(this.exchange, SessionStateBehavior.Required, 'guard');
    } catch (error) {
      throw toHttpException(error, this.exchange);
    }
    this.routed = true;
    if (lease.behavior !== SessionStateBehavior.Required) return; // another guard asked first, read-only
    if (this.early) {
      // Another request wrote the session since the mount read it: what the middleware changed was
      // computed from stale data. Refused rather than carried over (a lost update); the guard's
      // exception answers 409 and the unadopted lease is released when that answer goes out.
      // (Ending the session does not depend on its data: always carried over.)
      if (!this.early.isAbandoned && hasChanges(this.early, this.loaded) && lease.loaded?.items !== this.loaded.loaded?.items) {
        const conflict = new SessionStateLockLostError(CHANGED_WHILE_WAITING_MESSAGE, 'lock_mismatch', this.lifecycle.retryAfterSeconds);
        throw toHttpException(conflict, this.exchange);
      }
      carryOver(this.early, this.loaded, lease.session);
      this.carried = true;
    }
    ownedByPassportUser(lease);
    this.holdGuardAnswer(lease);
  }

  private holdGuardAnswer(lease: SessionLease): void {
    const answer = this.exchange.holdAnswer();
    lease.guardAnswer = answer;
    answer.onSending(() => {
      // Taken over by the interceptor: it completed the session before the answer.
      if (lease.adopted) return answer.release(lease.completion ?? Promise.resolve(), (error) => toHttpException(error, this.exchange));
      // A guard answered itself (passport's successRedirect, failureRedirect): a success is saved
      // first; a refusal (4xx, 5xx) discards the changes, as the guard's exception would (unless
      // `saveOnError: 'client-errors'` keeps a 4xx's, as it does for the guard binding's answers).
      const outcome = this.lifecycle.outcomeOfAnswer(answer.status());
      answer.release(this.lifecycle.complete(lease, this.exchange, outcome), (error) => toHttpException(error, this.exchange));
    });
  }
}

/** passport's user is the session's owner, so that sign-out-everywhere covers passport logins. */
function ownedByPassportUser(lease: SessionLease): void {
  lease.beforeSave = () => {
    const owner = ownerOfPassportUser(lease.session);
    if (owner !== undefined && owner !== lease.session.owner) lease.session.owner = owner;
  };
}

/** A writable copy of a read-only lease's session (the loaded data; nothing of it is ever stored). */
function earlyCopy(lease: SessionLease): HttpSessionState {
  const { session } = lease;
  return new HttpSessionState({
    id: session.id,
    items: lease.loaded?.items ?? '{}',
    isNew: session.isNew,
    isReadOnly: false,
    timeout: session.timeout,
    owner: session.owner,
  });
}

/** Whether middleware changed anything before the route was known: data, the id, or the session's end. */
function hasChanges(early: HttpSessionState, lease: SessionLease): boolean {
  return early.isAbandoned || early.previousId !== undefined || changesOf(early, lease).length > 0;
}

/** The keys whose values `early` changed from what `lease` loaded. */
function changesOf(early: HttpSessionState, lease: SessionLease): string[] {
  if (!early.itemsMayDiffer && early.previousId === undefined) return [];
  const before = JSON.parse(lease.loaded?.items ?? '{}') as Record<string, unknown>;
  const after = JSON.parse(early.serializeItems()) as Record<string, unknown>;
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]) || (early.previousId !== undefined && key in before),
  );
}

/** Applies what middleware changed before the route was known to the session the route locked. */
function carryOver(early: HttpSessionState, loaded: SessionLease, locked: HttpSessionState): void {
  const target = locked as unknown as { set(key: string, value: unknown): unknown; delete(key: string): unknown };
  const source = early as unknown as { get(key: string): unknown; has(key: string): boolean };
  if (early.isAbandoned) {
    // Ended early (a middleware's destroy(), @fastify/session's delete()): removed at the end of the request.
    locked.abandon();
    return;
  }
  if (early.previousId !== undefined) {
    // Regenerated early (@fastify/passport logs out a user it can no longer find): so is the locked session.
    locked.clear();
    locked.owner = undefined;
    locked.regenerateId();
  }
  for (const key of changesOf(early, loaded)) {
    if (source.has(key)) target.set(key, source.get(key));
    // A key `has()` does not show may be the cookie's lifetime, kept among the items: carried below.
    else if (locked.has(key as never)) target.delete(key);
  }
  // A middleware's "remember me" (`req.session.cookie.maxAge`), as express-session keeps it.
  if (early.cookieChanged) locked.cookie.maxAge = early.cookieMaxAge;
}
