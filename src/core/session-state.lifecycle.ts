import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { ReplaySubject, type Observable } from 'rxjs';
import { cookieMaxAgeOf } from '../cookie/cookie-lifetime.js';
import { SessionIdCarrier } from '../cookie/session-id-carrier.js';
import {
  SessionStateCorruptError,
  SessionStateError,
  SessionStateEndedError,
  SessionStateEndedWhileWaitingError,
  SessionStateLockLostError,
  SessionStateStoreUnavailableError,
  SessionStateWaitAbortedError,
} from '../errors/session-state.errors.js';
import { HttpSessionState } from '../session/http-session-state.js';
import type { SessionExchange } from './session-exchange.js';
import { LazyAbort, onAbort, type WaitSignal } from '../lock/lazy-abort.js';
import { SessionLockCoordinator, type LocalTurn } from '../lock/session-lock-coordinator.js';
import { acquisitionOf, attachLease, type SessionLease } from './session-lease.js';
import { storedEarlier } from './earlier-read.js';
import { shouldSaveOnError } from '../module/save-on-error.policy.js';
import { keepsChanges, planCompletion, SENT_BEFORE_SAVED, writesSession, type CompletionFacts, type RequestOutcome } from './completion-plan.js';
import { generateSessionId, redactSessionId } from '../session/session-id.js';
import { clientSummaryOf } from '../session/client-summary.js';
import { pastAbsoluteTimeout, SessionLiveness } from './session-liveness.js';
import { giveBackOwnerSlot, leftOwnerSlot, ownerClaimOf, takeOwnerSlot } from './owner-cap.js';
import { SessionStateBehavior } from './session-state-behavior.enum.js';
import type { ActiveBehavior } from './session-state-behavior.enum.js';
import { OBSERVED_SESSION_STATE_STORE, SESSION_STATE_OPTIONS } from '../module/session-state.constants.js';
import { SessionStateObserver } from '../observability/session-state-observer.js';
import { loggableMessage } from '../observability/store-failure-log.js';
import { logOperationFailure } from '../observability/operation-failure-log.js';
import type { ResolvedSessionStateOptions } from '../module/session-state.options.js';
import {
  MOVED_MARKER_MS,
  SessionStateActions,
  SessionStateStore,
  type SessionStateAbsent,
  type SessionStateAcquired,
  type SessionStateAcquisition,
  type SessionStateLoaded,
  type SessionStateStoreData,
} from '../store/session-state-store.js';

export type { RequestOutcome } from './completion-plan.js';

/**
 * How long before its lock turns stale a logout still trusts that nobody broke it: instances' clocks
 * disagree, and the store dated the lock before the lease was made (see `removeEnded`).
 */
const STALE_MARGIN_MS = 10_000;

/**
 * A login's own marker surely still stands this long after its removal was sent (the marker lasts
 * MOVED_MARKER_MS from when the store wrote it, no earlier), with a margin for a store's own clock.
 */
const OWN_MARKER_MS = MOVED_MARKER_MS - 2_000;

/** What failed, in the log lines of `logFailure`. */
const RELEASING = 'Releasing a session lock';
const UNDOING_COPY = 'Removing the copy of a regenerated session whose move was undone';
/** Why a save asked for once the request's completion began is refused (its answer may be out). */
const COMPLETED_BEFORE_SAVE = "save(): this request's session was already completed (its answer is sent).";

/**
 * The request lifecycle of ASP.NET's SessionStateModule, top to bottom:
 *   1. `acquire`  — at request start: read the id cookie, load the session (and for Required take
 *                   its exclusive lock, waiting for the current holder);
 *   2. the handler runs with `@Session()`;
 *   3. `complete` — before the response is sent: save-and-release, release, or remove.
 */
@Injectable()
export class SessionStateLifecycle implements BeforeApplicationShutdown {
  private readonly logger = new Logger('SessionState');
  /** The id's cookie, or the id header for a request that carries it. */
  private readonly cookie: SessionIdCarrier;
  /** @internal */
  readonly locks: SessionLockCoordinator;
  /** @internal Whether a stream's session still lives (a GraphQL subscription asks before each event). */
  readonly liveness: SessionLiveness;
  /** Set once shutdown began. */
  private closing = false;
  /** Emits once shutdown begins (also to a late subscriber). */
  private readonly closingStarted = new ReplaySubject<void>(1);
  /** The streams that end at shutdown, each settled once its connection is done with its answer. */
  private readonly openStreams = new Set<Promise<void>>();
  /**
   * Leases not yet completed: shutdown waits for them. An array with each lease's index on it (O(1)
   * removal): a Set's insertion and deletion per request made the hash table churn measurably.
   */
  private readonly active: SessionLease[] = [];
  /** Errors after which the request's lock was already released (a move undone): nothing left to release. */
  private readonly lockReleasedBy = new WeakSet<object>();
  /** Refusals left on a request by `refuseLater`, not yet given (and counted). */
  private readonly leftRefusals = new WeakSet<Promise<SessionLease>>();
  private readonly isClosing = () => this.closing;
  /** Called when the last active lease completes (set while shutdown waits). */
  private onDrained: (() => void) | undefined;

  constructor(
    @Inject(SESSION_STATE_OPTIONS) private readonly options: ResolvedSessionStateOptions,
    // The configured store, measured and failure-logged.
    @Inject(OBSERVED_SESSION_STATE_STORE) private readonly store: SessionStateStore,
    private readonly observer: SessionStateObserver,
  ) {
    this.cookie = new SessionIdCarrier(options);
    this.locks = new SessionLockCoordinator(store, options, this.logger, observer.staleBroken);
    this.liveness = new SessionLiveness(store, options.absoluteTimeoutMs, (error) => observer.rejected(error, this.closing));
  }

  /**
   * 1. Acquire the exchange's session, once per exchange: a guard may have asked first through
   * `SessionStateAccessor` (`owner: 'guard'`); the interceptor then takes that lease over.
   * `cancel` stops a wait for the lock (the interceptor's subscriber went away).
   */
  acquire(exchange: SessionExchange, behavior: ActiveBehavior, owner: 'interceptor' | 'guard', cancel?: WaitSignal): Promise<SessionLease> {
    // Kept by the exchange's key (the request): see session-lease.ts.
    const held = this.heldAcquisition(exchange.key);
    if (!held) {
      const acquisition = this.begin(exchange, behavior, owner, cancel);
      attachLease(exchange.key, acquisition); // replaced by the lease once loaded
      return acquisition;
    }
    const pending = held instanceof Promise ? held : Promise.resolve(held);
    if (owner === 'guard') return pending;
    // The interceptor takes over a guard's lease.
    return pending.then((lease) => (this.adopt(lease), lease));
  }

  /**
   * Leaves `error` on the request for whatever acquires its session later (the route's guard or
   * interceptor, GraphQL's hooks), which is refused with it; counted in the metrics then, once. A
   * request that never uses its session is not refused, nor counted.
   */
  refuseLater(key: object, error: unknown): void {
    const refused = Promise.reject(error);
    refused.catch(() => {}); // nobody may ask
    this.leftRefusals.add(refused);
    attachLease(key, refused);
  }

  /** The acquisition (or lease) of the exchange keyed by `key`, if one began; a refusal left by `refuseLater` is counted as it is given. */
  heldAcquisition(key: object): Promise<SessionLease> | SessionLease | undefined {
    const held = acquisitionOf(key);
    if (held instanceof Promise && this.leftRefusals.delete(held)) held.catch((error: unknown) => this.observer.rejected(error, this.closing));
    return held;
  }

  /**
   * Takes over a lease a guard acquired: from here whoever adopts it completes it, whatever happens.
   * A lease released meanwhile (its lock turned stale while a guard hung) throws: the handler must
   * not run without the lock, nor answer 200 for changes that cannot be saved.
   */
  private adopt(lease: SessionLease): void {
    // A lease that holds no lock may be complete already (a guard-bound read with nothing to write
    // completes at once): nothing was released that the handler needs, and its completion stands.
    if (lease.completion && lease.lockId !== null) {
      // Adopted before: the handler runs again (an interceptor's `retry()`), its first run's session completed (review R26).
      throw new SessionStateLockLostError(
        lease.adopted
          ? "This request's session was already completed by an earlier run of its handler (an interceptor's retry() or repeat()); the handler was not run again."
          : 'The session lock was released as stale before the handler could run (a guard took longer than executionTimeout); the request was not run.',
        'lock_mismatch',
      );
    }
    lease.adopted = true;
    lease.guardAnswer?.letGo(); // the interceptor completes the session before the answer
  }

  /**
   * A mid-request save (`req.session.save()`): writes the session now and keeps the lock
   * (`setItemExclusive`), so what follows in the request (a redirect passport sends) finds it
   * stored. A new or regenerated session is inserted under its id, locked, the record it moved
   * from removed, and its cookie sent at once. A no-op for a read-only or abandoned session, and
   * for a store without `setItemExclusive` (its writes wait for completion, as before).
   */
  saveNow(lease: SessionLease, exchange: SessionExchange): Promise<void> {
    if (lease.completion) return Promise.reject(new SessionStateError(COMPLETED_BEFORE_SAVE));
    // One at a time (review R24): two saves in flight would both move a regenerated session, and the
    // second, finding its lock moved by the first, would report a lost lock for data that was saved.
    const saved = (lease.saving ?? Promise.resolve()).then(() => this.saveOnce(lease, exchange));
    lease.saving = saved.then(
      () => {},
      () => {},
    );
    return saved;
  }

  private async saveOnce(lease: SessionLease, exchange: SessionExchange): Promise<void> {
    const { session } = lease;
    // Queued behind another save when shutdown released the lease: nothing is held to save under.
    if (lease.abandonedAtShutdown) throw new SessionStateError(COMPLETED_BEFORE_SAVE);
    if (session.isReadOnly || session.isAbandoned || !this.store.setItemExclusive) return;
    lease.beforeSave?.();
    const data = this.dataOf(lease, exchange);
    const moved = session.previousId !== undefined || lease.loaded === null;
    if (!moved) {
      if (data.items === lease.loaded!.items && !session.timeoutChanged && !session.ownerChanged) return;
      await this.withOwnerSlot(lease, data, () => this.store.setItemExclusive!(session.id, data, lease.lockId, false));
    } else {
      // New and still empty (an anonymous visitor's logout: passport saves, then regenerates): nothing
      // to store, nor a cookie to send, as completion decides (`isNewAndEmpty`).
      if (lease.loaded === null && data.items === '{}' && data.owner === undefined) return;
      // A new record that no cookie could name must never be written: completion says so.
      if (!this.cookie.canSetCookie(exchange)) return;
      const cookie = this.cookieFor(exchange, session.id, session);
      // The move's old record goes inside the owner slot's claim: a move undone gives its new place back.
      let removal: 'removed' | 'uncertain' | undefined;
      let lockId: string;
      try {
        lockId = await this.withOwnerSlot(lease, data, async () => {
          const newLockId = await this.store.setItemExclusive!(session.id, data, null, true);
          if (session.previousId !== undefined && lease.lockId)
            removal = await this.removeMovedFrom(session.previousId, session.id, lease.lockId, newLockId);
          return newLockId;
        });
      } catch (error) {
        // The old lock was released while the move was undone: the request's completion has none to release.
        if (this.lockReleasedBy.has(error as object)) lease.lockId = null;
        throw error;
      }
      if (lease.abandonedAtShutdown) {
        // Completed meanwhile by shutdown (`abandonAtShutdown`), which released only the lock the lease
        // had then: the new id's lock is released here, or nothing would (review R27). The session is
        // stored under its new id, so its cookie still goes out (on the 503).
        await this.release(session.id, lockId).catch((e) => this.logFailure(RELEASING, e, session.id));
        if (cookie !== null) this.cookie.send(exchange, cookie);
        return;
      }
      if (removal === 'removed') {
        const left = leftOwnerSlot(this.options, lease, { kind: 'move', removeOld: true }, data);
        if (left) await this.giveBackLeftSlot(left);
      }
      // The old id's place in this process's queue: its waiters find the session gone.
      lease.turn?.releaseLocal();
      lease.turn = null;
      lease.lockId = lockId;
      if (cookie !== null) {
        this.cookie.send(exchange, cookie);
        lease.cookieSent = cookie;
      }
    }
    lease.loaded = data;
    session.markSaved();
  }

  /**
   * Forgets a read-only lease nobody will complete (the mount's, replaced by a locked one for a
   * route that writes): it holds no lock, so nothing is written.
   */
  drop(lease: SessionLease): void {
    if (lease.lockId !== null || lease.completion) return;
    lease.completion = Promise.resolve();
    clearTimeout(lease.staleTimer);
    this.removeActive(lease);
  }

  /** The module's `Retry-After` hint (`lockWait.retryAfterSeconds`), for a refusal that a retry is expected to get past. */
  get retryAfterSeconds(): number {
    return this.options.lockWait.retryAfterSeconds;
  }

  /** Logs a warning about the app's use of the session (never with a session id). */
  warn(message: string): void {
    this.logger.warn(message);
  }

  /** The outcome of a request whose handler (or a pipe) threw: `saveOnError` may keep its changes. */
  outcomeOfError(error: unknown): RequestOutcome {
    return shouldSaveOnError(this.options.saveOnError, error, this.logger) ? 'succeeded' : 'failed';
  }

  /**
   * The outcome of a request told by its answer's status alone (a route bound to the session guard:
   * no interceptor sees the handler's error): 400 and above is a refusal, whose changes are discarded
   * unless `saveOnError` is `'client-errors'` and the status below 500. (A predicate is refused at startup.)
   */
  outcomeOfAnswer(status: number): RequestOutcome {
    if (status < 400) return 'succeeded';
    return this.options.saveOnError === 'client-errors' && status < 500 ? 'succeeded' : 'failed';
  }

  /**
   * Whether completing `lease` can do nothing, whenever it runs and however the request ends: a
   * read-only lease whose stored expiry need not slide and whose cookie need not be signed again
   * (see `planCompletion`). A guard-bound route completes such a lease at once, holding no answer.
   */
  hasNothingToComplete(lease: SessionLease): boolean {
    return lease.behavior === SessionStateBehavior.ReadOnly && !lease.refreshExpiry && !lease.resignCookie;
  }

  /**
   * Whether completing `lease` as a success would write the session (save, create, move or remove
   * it): what a failure's discard loses. The completion's own plan, asked before it runs (a GraphQL
   * batch's last answer says so when another operation failed); it serialises the items if they may differ.
   */
  wouldWrite(lease: SessionLease, exchange: SessionExchange): boolean {
    try {
      const readOnly = lease.behavior === SessionStateBehavior.ReadOnly;
      const data = keepsChanges({ readOnly, outcome: 'succeeded', abandoned: lease.session.isAbandoned }) ? this.dataOf(lease, exchange) : null;
      return writesSession(planCompletion(this.factsOf(lease, exchange, 'succeeded', data)).store);
    } catch {
      return true; // items that cannot be stored (a value JSON cannot keep, too large): changed all the same
    }
  }

  /** 3. End of the exchange, before its answer is sent. Runs once per lease. */
  complete(lease: SessionLease, exchange: SessionExchange, outcome: RequestOutcome): Promise<void> {
    // A handler still running under the lease (a resolver an outer interceptor gave up on) keeps its
    // lock until it settles, at the latest until the lock is stale; what it changes is discarded.
    if (lease.completion) return lease.completion;
    // A mid-request save in flight (`saveNow`) is waited for: completion plans from what it stored and
    // the lock it moved to, never beside it (review R24). Saves asked for from now on are refused.
    const { saving, running } = lease;
    lease.completion = saving
      ? saving.then(() => this.completeIdle(lease, exchange, outcome, running))
      : this.completeIdle(lease, exchange, outcome, running);
    return lease.completion;
  }

  /** `complete` once no save is in flight; `running`: handlers ran under the lease when it was asked (their changes discarded). */
  private completeIdle(lease: SessionLease, exchange: SessionExchange, outcome: RequestOutcome, running: number | undefined): Promise<void> {
    return running ? this.whenIdle(lease).then(() => this.completeOnce(lease, exchange, 'failed')) : this.completeOnce(lease, exchange, outcome);
  }

  /**
   * A handler starts running under the lease (a GraphQL resolver: the request's lease is completed
   * by the server's hooks, not around the resolver). Answers its end, to call once it settles.
   */
  hold(lease: SessionLease): () => void {
    lease.running = (lease.running ?? 0) + 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--lease.running! === 0) lease.idle?.();
    };
  }

  private whenIdle(lease: SessionLease): Promise<void> {
    return new Promise((resolve) => {
      const stale = setTimeout(resolve, this.msUntilStale(lease)).unref();
      lease.idle = () => (clearTimeout(stale), resolve());
    });
  }

  private async completeOnce(lease: SessionLease, exchange: SessionExchange, outcome: RequestOutcome): Promise<void> {
    try {
      await this.finish(lease, exchange, outcome);
    } catch (error) {
      // A save the client is refused (409, 413, 503) is counted by reason.
      if (outcome === 'succeeded') this.observer.rejected(error, this.closing);
      throw error;
    } finally {
      clearTimeout(lease.staleTimer);
      lease.turn?.releaseLocal();
      this.removeActive(lease);
    }
  }

  private addActive(lease: SessionLease): void {
    lease.activeIndex = this.active.push(lease) - 1;
  }

  private removeActive(lease: SessionLease): void {
    const index = lease.activeIndex;
    if (index === undefined) return;
    lease.activeIndex = undefined;
    const last = this.active.pop()!;
    if (last !== lease) {
      this.active[index] = last;
      last.activeIndex = index;
    }
    if (this.active.length === 0) this.onDrained?.();
  }

  /**
   * @internal A stream that ends when shutdown begins (`SessionTransport.endsAtShutdown`) takes until
   * the answer. Shutdown then waits (at most `executionTimeout`) until its connection is done with its
   * answer: the HTTP server's close, which comes next, ends idle connections only, and waited for the
   * stream's until its keep-alive timeout.
   */
  endAtShutdown(exchange: SessionExchange): Observable<void> {
    if (exchange.onClosed) {
      const closed = new Promise<void>((resolve) => exchange.onClosed!(() => resolve()));
      this.openStreams.add(closed);
      void closed.then(() => this.openStreams.delete(closed));
    }
    return this.closingStarted;
  }

  /** @internal Leases not yet completed (diagnostics and tests). */
  get activeLeases(): number {
    return this.active.length;
  }

  /** Completes a lease whose outcome nobody waits for (its exchange is over): changes discarded, failures logged. */
  discard(lease: SessionLease, exchange: SessionExchange): void {
    void this.complete(lease, exchange, 'failed').catch((e) => {
      // Dropped at shutdown (see `abandonAtShutdown`): already logged, nobody to tell.
      if (!(e instanceof SessionStateWaitAbortedError))
        this.logFailure('Completing the session of a request that is over', e, lease.session.id, lease.session.previousId);
    });
  }

  /** Milliseconds until the lease's lock turns stale (others may then break it). */
  msUntilStale(lease: SessionLease): number {
    return Math.max(0, lease.acquiredAt + this.options.executionTimeoutMs - Date.now());
  }

  private async begin(
    exchange: SessionExchange,
    behavior: ActiveBehavior,
    owner: 'interceptor' | 'guard',
    cancel: WaitSignal | undefined,
  ): Promise<SessionLease> {
    // The client went away, or the interceptor's subscriber did: stop waiting for the lock. Watched
    // only if the request waits (see LazyAbort).
    const abort = new LazyAbort((stop) => {
      const stopWatchingClient = exchange.onClientGone(stop);
      const stopWatchingCancel = onAbort(cancel, stop);
      return () => (stopWatchingClient(), stopWatchingCancel());
    });
    try {
      let lease: SessionLease;
      try {
        lease = await this.load(exchange, behavior, abort);
      } finally {
        abort.dispose();
      }
      attachLease(exchange.key, lease);
      this.addActive(lease);
      if (this.closing || abort.aborted) {
        // Shutdown began while the store answered, or the client left after its wait ended but before
        // the store answered (woken by a hand-off, its read or lock still under way): this request will
        // not be served, and what it took is given back now.
        await this.complete(lease, exchange, 'failed');
        throw new SessionStateWaitAbortedError(
          this.closing ? 'The application is shutting down.' : 'The request was aborted while waiting for the session lock.',
        );
      }
      if (owner === 'guard') this.holdForGuard(lease, exchange);
      else lease.adopted = true; // the interceptor asked first: it completes the lease, whatever happens
      return lease;
    } catch (error) {
      // A refused request is counted by reason (a refusal left for later, when it is given: refuseLater).
      if (!(exchange.defersRefusal && error instanceof SessionStateEndedWhileWaitingError)) this.observer.rejected(error, this.closing);
      throw error;
    }
  }

  /**
   * A session loaded by a guard stays held until the handler has settled, or until it is certain
   * that the handler never runs. The interceptor takes it over if the guards let the request
   * through. If it never does (a guard refused, a later step failed), the handler cannot run once
   * the answer is being sent: release then. Not when the client leaves: later guards and the
   * handler still run. At the latest, release when the lock turns stale (a guard that hangs).
   */
  private holdForGuard(lease: SessionLease, exchange: SessionExchange): void {
    const releaseUnadopted = () => {
      if (!lease.adopted) this.discard(lease, exchange);
    };
    exchange.onAnswered(releaseUnadopted);
    lease.staleTimer = setTimeout(releaseUnadopted, this.options.executionTimeoutMs).unref();
  }

  private async load(exchange: SessionExchange, behavior: ActiveBehavior, signal: WaitSignal): Promise<SessionLease> {
    const read = this.cookie.read(exchange);
    if (read === null) return this.newLease(behavior, exchange);
    const { id, resign } = read;
    try {
      if (behavior === SessionStateBehavior.ReadOnly) {
        const { result, waited } = await this.observer.lockWait(this.isClosing, this.locks.acquireShared(id, signal));
        return this.leaseFor(exchange, id, behavior, result, waited, null, null, resign);
      }
      const { result, waited, turn } = await this.observer.lockWait(this.isClosing, this.locks.acquireExclusive(id, signal));
      return this.leaseFor(exchange, id, behavior, result, waited, result.kind === 'acquired' ? result.lockId : null, turn, resign);
    } catch (error) {
      if (!(error instanceof SessionStateCorruptError)) throw error;
      return await this.replaceUnreadable(exchange, id, behavior, error.lockId, null);
    }
  }

  /** The lease of a loaded session (a promise only when the stored session cannot be read). */
  private leaseFor(
    exchange: SessionExchange,
    id: string,
    behavior: ActiveBehavior,
    result: SessionStateLoaded | SessionStateAcquired | SessionStateAbsent,
    waited: boolean,
    lockId: string | null,
    turn: LocalTurn | null,
    resignCookie: boolean,
  ): SessionLease | Promise<SessionLease> {
    if (result.kind === 'absent') {
      turn?.releaseLocal();
      // Gone while we waited for its holder, or since this request read it (the mount's read, see
      // earlier-read.ts): moved (login) or ended (logout). See the error's doc.
      if (waited || storedEarlier(exchange.key, id, this)) throw new SessionStateEndedWhileWaitingError(this.options.lockWait.retryAfterSeconds);
      // A WebSocket connection whose session ended (revoked, signed out): refused, so the gateway can
      // tell. Moved too: its handshake's cookie names the old id for good, so only a reconnection helps.
      if (exchange.refusesEndedSession) throw new SessionStateEndedError();
      // Moved a moment ago (a login; the store's marker): a write with the old cookie, sent before the
      // login's answer reached the browser, would start a session whose cookie signs the user out. A
      // read-only request sets no cookie: it reads an empty session, as before.
      if (result.moved && behavior !== SessionStateBehavior.ReadOnly) {
        throw new SessionStateEndedWhileWaitingError(this.options.lockWait.retryAfterSeconds);
      }
      // Unknown or expired id: a new session under a new id (never adopt an id a client chose).
      return this.newLease(behavior, exchange);
    }
    const { item } = result;
    if (this.pastAbsoluteTimeout(item)) return this.endPastLifetime(exchange, id, behavior, lockId, turn);
    let session: HttpSessionState;
    try {
      session = new HttpSessionState({
        id,
        items: item.items,
        isNew: result.actions === SessionStateActions.InitializeItem,
        isReadOnly: behavior === SessionStateBehavior.ReadOnly,
        readOnlyReason: exchange.readOnlyReason,
        timeout: item.timeout,
        owner: item.owner,
      });
    } catch {
      return this.replaceUnreadable(exchange, id, behavior, lockId, turn);
    }
    const halfTimeoutMs = (item.timeout * 60_000) / 2;
    return {
      behavior,
      session,
      lockId,
      refreshExpiry: behavior === SessionStateBehavior.ReadOnly && result.expires - Date.now() < halfTimeoutMs,
      resignCookie,
      loaded: item,
      turn,
      adopted: false,
      acquiredAt: Date.now(),
    };
  }

  /** Whether `absoluteTimeout` has passed since the session was created or its id last regenerated (no store call). */
  private pastAbsoluteTimeout(item: SessionStateStoreData): boolean {
    return pastAbsoluteTimeout(item, this.options.absoluteTimeoutMs);
  }

  /**
   * A session past its absolute lifetime is gone whatever its activity: removed when this request
   * holds its lock (a read-only request leaves it to its idle expiry; every load treats it as gone),
   * and the request starts a new session under a new id.
   */
  private async endPastLifetime(
    exchange: SessionExchange,
    id: string,
    behavior: ActiveBehavior,
    lockId: string | null,
    turn: LocalTurn | null,
  ): Promise<SessionLease> {
    try {
      if (lockId) await this.store.removeItem(id, lockId);
    } catch (error) {
      // Removed meanwhile (revoked), or the store failed: release what may still be held.
      if (!(error instanceof SessionStateLockLostError)) await this.release(id, lockId!).catch((e) => this.logFailure(RELEASING, e, id));
    } finally {
      turn?.releaseLocal();
    }
    if (exchange.refusesEndedSession) throw new SessionStateEndedError();
    return this.newLease(behavior, exchange);
  }

  /**
   * A stored session that cannot be read must not fail every request of its user: release it,
   * leave the record for inspection (it expires), and start a new session under a new id.
   */
  private async replaceUnreadable(
    exchange: SessionExchange,
    id: string,
    behavior: ActiveBehavior,
    lockId: string | null,
    turn: LocalTurn | null,
  ): Promise<SessionLease> {
    this.logger.warn(`Session ${redactSessionId(id)} cannot be read; starting a new session.`);
    try {
      if (lockId) await this.release(id, lockId);
    } finally {
      turn?.releaseLocal();
    }
    return this.newLease(behavior, exchange);
  }

  private newLease(behavior: ActiveBehavior, exchange: SessionExchange): SessionLease {
    const session = new HttpSessionState({
      id: generateSessionId(),
      items: '{}',
      isNew: true,
      // An exchange that cannot set a cookie (a WebSocket message) cannot start a session.
      isReadOnly: behavior === SessionStateBehavior.ReadOnly || exchange.cannotStartSession !== undefined,
      readOnlyReason: exchange.cannotStartSession ?? exchange.readOnlyReason,
      timeout: this.options.timeout,
    });
    return {
      behavior,
      session,
      lockId: null,
      refreshExpiry: false,
      resignCookie: false,
      loaded: null,
      turn: null,
      adopted: false,
      acquiredAt: Date.now(),
    };
  }

  /**
   * Decides what the end of the request does (`planCompletion`, from plain facts), then does it.
   * The plan is executed here, in the same async function: no extra promise per request.
   */
  private async finish(lease: SessionLease, exchange: SessionExchange, outcome: RequestOutcome): Promise<void> {
    const { session, lockId } = lease;
    const loadedId = session.previousId ?? session.id;
    try {
      if (outcome === 'succeeded' && !session.isReadOnly) lease.beforeSave?.();
      // The data is serialised (which may throw: a value mutated in place out of bounds) only when it may be written.
      const readOnly = lease.behavior === SessionStateBehavior.ReadOnly;
      const data = keepsChanges({ readOnly, outcome, abandoned: session.isAbandoned }) ? this.dataOf(lease, exchange) : null;
      const plan = planCompletion(this.factsOf(lease, exchange, outcome, data));
      if (plan.log) this.logger[plan.log.level](plan.log.message);
      // Every cookie that names a write is made before it: one that cannot be made leaves no record behind.
      const cookie =
        plan.cookie === 'set' ? this.cookieFor(exchange, session.id, session) : plan.cookie === 'clear' ? this.cookieFor(exchange, null) : null;
      const step = plan.store;
      const claim =
        step.kind === 'save' || step.kind === 'create' || step.kind === 'move' ? ownerClaimOf(this.options, session, lease.loaded, data) : null;
      if (claim) await this.claimSlot(claim);
      let keepsOldPlace = false;
      try {
        switch (step.kind) {
          case 'reset-timeout':
            // A read-only request's slide of the stored expiry (amortised: see `refreshExpiry`). One that
            // fails is logged and skipped, as a cookie renewal's read is (`stillStored`): nothing the
            // request did is lost, and a later read slides it; it never fails a read (review R6).
            await this.store
              .resetItemTimeout(loadedId)
              .catch((error: unknown) => this.logFailure("Sliding a read-only request's session expiry", error, loadedId, session.id));
            break;
          case 'release':
            await this.releaseOrHandOver(lease, loadedId, lockId!, null);
            break;
          case 'save':
            if (step.handOver) await this.releaseOrHandOver(lease, loadedId, lockId!, data!);
            else await this.store.setAndReleaseItemExclusive(loadedId, data!, lockId, false);
            break;
          case 'create':
            await this.store.setAndReleaseItemExclusive(session.id, data!, lockId, true);
            break;
          case 'move':
            await this.store
              .setAndReleaseItemExclusive(session.id, data!, null, true)
              .catch((error: unknown) => this.undoUnansweredCopy(session.id, error));
            if (step.removeOld && (await this.removeMovedFrom(loadedId, session.id, lockId!, null)) === 'uncertain') keepsOldPlace = true;
            break;
          case 'remove':
            await this.removeEnded(lease, loadedId, lockId!);
            break;
        }
      } catch (error) {
        if (claim) await giveBackOwnerSlot(this.store, claim, error);
        throw error;
      }
      const left = keepsOldPlace ? null : leftOwnerSlot(this.options, lease, step, data);
      if (left) await this.giveBackLeftSlot(left);
      if (plan.cookie === 'renew' && lockId === null && !(await this.stillStored(loadedId))) return;
      this.sendCookie(exchange, plan.cookie === 'renew' ? this.cookieFor(exchange, session.id, session) : cookie, lease.cookieSent);
    } catch (error) {
      // A save that failed before writing (too large, store unreachable, refused by the owner cap) must not leave our lock behind.
      if (lockId && !(error instanceof SessionStateLockLostError) && !this.lockReleasedBy.has(error as object)) {
        await this.release(loadedId, lockId).catch((e) => this.logFailure(RELEASING, e, loadedId, session.id));
      }
      throw error;
    }
  }

  /**
   * Whether a record is still stored under `id`, before a request without the lock (read-only) renews
   * its cookie (a new signature or expiry): a login or logout may have moved or ended the session since
   * it was read, and a cookie naming the old id would replace the login's (the user signed out). One
   * read, on those renewals only (amortised: see `refreshExpiry`; a re-signature once per cookie). A read
   * that fails skips the renewal (a later request renews): it never fails a read. Left open: a move that
   * lands between this read and the answer.
   */
  private async stillStored(id: string): Promise<boolean> {
    try {
      return (await this.store.getItem(id)).kind !== 'absent';
    } catch {
      return false;
    }
  }

  /** `maxSessionsPerOwner`: the session's place among its owner's, taken before the save that gives it the owner. */
  private async claimSlot(claim: NonNullable<ReturnType<typeof ownerClaimOf>>): Promise<void> {
    const revoked = await takeOwnerSlot(this.store, claim);
    if (revoked > 0) this.logger.log(`maxSessionsPerOwner: ${revoked} older session(s) of the signing-in owner revoked.`);
  }

  /** A place freed by a logout or move (see `leftOwnerSlot`); a failure costs only the entry's check at the cap later. */
  private async giveBackLeftSlot(left: { owner: string; id: string; movedTo?: string }): Promise<void> {
    try {
      await this.store.releaseOwnerSlot?.(left.owner, left.id, left.movedTo);
    } catch (error) {
      this.logger.warn(`maxSessionsPerOwner: a freed place could not be given back: ${loggableMessage(error, [left.id])}`);
    }
  }

  /** A mid-request save under the owner cap (see `claimSlot`). */
  private async withOwnerSlot<T>(lease: SessionLease, data: SessionStateStoreData, save: () => Promise<T>): Promise<T> {
    const claim = ownerClaimOf(this.options, lease.session, lease.loaded, data);
    if (!claim) return save();
    await this.claimSlot(claim);
    try {
      return await save();
    } catch (error) {
      await giveBackOwnerSlot(this.store, claim, error);
      throw error;
    }
  }

  /** The data to save; the items serialised only when they may have changed (a request that read primitives only did not). */
  private dataOf({ session, loaded }: SessionLease, exchange: SessionExchange): SessionStateStoreData {
    const items = loaded && !session.itemsMayDiffer ? loaded.items : session.serializeItems();
    if (loaded !== null && session.previousId === undefined) {
      // A session stored before `created` existed starts its clock at its next save.
      return { items, timeout: session.timeout, owner: session.owner, created: loaded.created ?? Date.now(), client: loaded.client };
    }
    // New, or moved to a new id (login): its lifetime, and where it was created from, start here.
    const client = this.options.recordClient ? clientSummaryOf(exchange.clientInfo?.()) : undefined;
    return { items, timeout: session.timeout, owner: session.owner, created: Date.now(), client };
  }

  /** What the plan depends on; the costlier facts (the request cookie's signature, the items) only where the plan reads them. */
  private factsOf(lease: SessionLease, exchange: SessionExchange, outcome: RequestOutcome, data: SessionStateStoreData | null): CompletionFacts {
    const { session } = lease;
    const canSetCookie = this.cookie.canSetCookie(exchange);
    return {
      readOnly: lease.behavior === SessionStateBehavior.ReadOnly,
      outcome,
      stored: lease.loaded !== null,
      hasLock: Boolean(lease.lockId),
      abandoned: session.isAbandoned,
      // The cookie is parsed and its signature checked again only when it matters.
      cameWithCookie: session.isAbandoned && this.cookie.read(exchange) !== null,
      cookieSent: lease.cookieSent !== undefined,
      regenerated: session.previousId !== undefined,
      isNew: session.isNew,
      itemsChanged: data !== null && data.items !== lease.loaded?.items,
      itemsEmpty: data?.items === '{}',
      hasOwner: session.owner !== undefined,
      timeoutChanged: session.timeoutChanged,
      ownerChanged: session.ownerChanged,
      canSetCookie,
      outsideCookiePath: !canSetCookie && this.cookie.outsideCookiePath(exchange),
      message: exchange.cannotStartSession !== undefined,
      resignCookie: lease.resignCookie,
      refreshExpiry: lease.refreshExpiry,
      renewsCookie: this.cookie.renews(session, exchange),
    };
  }

  /** The lifetime of `session`'s cookie, ms (its own `cookie.maxAge`, else the module's); undefined: a browser-session cookie. */
  cookieLifetime(session: HttpSessionState): number | undefined {
    return cookieMaxAgeOf(session, this.options);
  }

  /**
   * The Set-Cookie value for `id` (null: clears it; with `session`, its cookie lifetime), or the id
   * header's value when the request named its session by the header; null when no cookie (header)
   * can reach the client any more.
   */
  private cookieFor(exchange: SessionExchange, id: string | null, session?: HttpSessionState): string | null {
    if (!this.cookie.canSetCookie(exchange)) return null;
    return this.cookie.answerFor(exchange, id, session && id !== null ? cookieMaxAgeOf(session, this.options) : undefined);
  }

  private sendCookie(exchange: SessionExchange, setCookie: string | null, sent?: string): void {
    if (setCookie === null || setCookie === sent) return;
    if (this.cookie.canSetCookie(exchange)) this.cookie.send(exchange, setCookie);
    else this.logger.warn('The session cookie could not be set: ' + SENT_BEFORE_SAVED);
  }

  /**
   * Ends the request's hold on its session: saves `changed` (null: nothing to save) and releases
   * the lock, or, when another request of this process waits to write the session, hands the lock
   * straight to it: one store write where there would be two (this release, then its lock).
   */
  private async releaseOrHandOver(lease: SessionLease, id: string, lockId: string, changed: SessionStateStoreData | null): Promise<void> {
    const turn = lease.turn;
    if (!turn?.canHandOver() || !lease.loaded) {
      if (changed) await this.store.setAndReleaseItemExclusive(id, changed, lockId, false);
      else await this.release(id, lockId);
      return;
    }
    let acquired: SessionStateAcquisition;
    try {
      acquired = await this.store.handOverItemExclusive(id, changed ?? lease.loaded, lockId, changed !== null);
    } catch (error) {
      // Unchanged: a lock already broken as stale is only worth a warning, as in `release`.
      if (changed || !(error instanceof SessionStateLockLostError)) throw error;
      this.logger.warn(`Session ${redactSessionId(id)}: the lock of this request had already been broken as stale.`);
      return;
    }
    // A store's two-call hand-over may find the lock taken by another process meanwhile (or the
    // session gone): then the waiter is only woken (releaseLocal) and goes to the store.
    if (acquired.kind === 'acquired') await turn.handOver(acquired);
  }

  private async release(id: string, lockId: string): Promise<void> {
    if (!(await this.store.releaseItemExclusive(id, lockId))) {
      this.logger.warn(`Session ${redactSessionId(id)}: the lock of this request had already been broken as stale.`);
    }
  }

  /**
   * After a move's copy under the new id is stored (`newLockId`: locked by this request, a mid-request
   * save), the record it moved from goes. Where it certainly did not, the move is undone (the copy
   * removed) and an error thrown: the client keeps its old cookie, and no copy outlives what happened
   * to the old record meanwhile. Never are both removed: that would lose the session (reviews R7, R10).
   * Answers `uncertain` when the store could not tell: the session goes on under its new id, and the
   * old id's place under `maxSessionsPerOwner` is not given back (the cap finds it dead later).
   * A store that keeps markers answers this lock's own removal, run again, as done (`removeItem`): a
   * removal answered "gone" is then never this request's, even one another request moved meanwhile,
   * breaking its lock as stale (review R21).
   */
  private async removeMovedFrom(oldId: string, newId: string, oldLockId: string, newLockId: string | null): Promise<'removed' | 'uncertain'> {
    const sentAt = Date.now();
    try {
      await this.store.removeItem(oldId, oldLockId, { moved: true });
      return 'removed';
    } catch (error) {
      if (error instanceof SessionStateLockLostError) {
        // Broken as stale (another request may have saved under the old id since, or moved it: the copy
        // is older than what it did) or removed while held (revoked): fenced out like any lost save (409).
        await this.removeCopy(newId, newLockId).catch((e) => this.logFailure(UNDOING_COPY, e, oldId, newId));
        throw error;
      }
      // No answer: the removal may have landed, or may still land (a call in flight). Releasing the old
      // lock settles which: released, the removal (conditional on that lock) can no longer land, and the
      // move is undone; refused, the lock is gone, removed by this call or broken as stale.
      const released = await this.store.releaseItemExclusive(oldId, oldLockId).catch(() => undefined);
      if (released === true) {
        await this.removeCopy(newId, newLockId).catch((e) => this.logFailure(UNDOING_COPY, e, oldId, newId));
        if (typeof error === 'object' && error !== null) this.lockReleasedBy.add(error);
        throw error;
      }
      // Refused (the lock is gone) or no answer either: the removal sent again tells (see `removedBefore`).
      const old = await this.removedBefore(oldId, oldLockId, sentAt);
      if (old === 'removed') return 'removed';
      if (old === 'not-by-it') {
        await this.removeCopy(newId, newLockId).catch((e) => this.logFailure(UNDOING_COPY, e, oldId, newId));
        throw new SessionStateLockLostError(
          'The session lock was lost (broken as stale) before the session could move to its new id.',
          'lock_mismatch',
        );
      }
      this.logger.error(
        `Session ${redactSessionId(oldId)}: regenerateId() could not learn whether the old id was removed (the store did not answer); the session goes on under its new id, and the old record, if it lives, expires.`,
      );
      return 'uncertain';
    }
  }

  /**
   * Whether a move's removal that got no answer landed (`sentAt`: when it was sent). Run again, it is
   * answered done where it did (the store finds its own marker), or lands now (its lock still held:
   * the release got no answer either). Refused, the old record lives on (`lock_mismatch`), or
   * another request's move left its marker: not by it. Gone with no marker: on a store that keeps
   * markers, while its own would still stand, not by it either (another request moved or ended it,
   * its marker run out: review R27); otherwise taken as removed (a store without markers cannot say,
   * and the other choice would remove both records).
   */
  private async removedBefore(oldId: string, oldLockId: string, sentAt: number): Promise<'removed' | 'not-by-it' | 'unknown'> {
    try {
      await this.store.removeItem(oldId, oldLockId, { moved: true });
      return 'removed';
    } catch (error) {
      if (!(error instanceof SessionStateLockLostError)) return 'unknown';
      if (error.reason === 'lock_mismatch') return 'not-by-it';
      const old = await this.presenceOf(oldId);
      if (old === 'unknown') return 'unknown';
      if (old !== 'absent') return 'not-by-it';
      return this.store.keepsMovedMarkers && Date.now() - sentAt < OWN_MARKER_MS ? 'not-by-it' : 'removed';
    }
  }

  /**
   * A logout's removal (`abandon()`). One that finds the session gone has what it wanted (revoked
   * meanwhile, or its own first run, resent by a client library after its answer was lost: ioredis),
   * provided nobody could have taken the session from it: its lock not yet stale (a login that broke
   * it may have moved the session, and its marker may be gone: review R15), with a margin for the
   * instances' clocks, and no move's marker. Otherwise refused as before (409).
   */
  private async removeEnded(lease: SessionLease, id: string, lockId: string): Promise<void> {
    try {
      await this.store.removeItem(id, lockId);
    } catch (error) {
      const unbroken = this.msUntilStale(lease) > STALE_MARGIN_MS;
      if (!(error instanceof SessionStateLockLostError) || error.reason !== 'item_gone' || !unbroken || (await this.presenceOf(id)) !== 'absent')
        throw error;
    }
  }

  /** What the store answers for `id`: a record, none, the marker a move leaves, or no answer. */
  private async presenceOf(id: string): Promise<'present' | 'absent' | 'moved' | 'unknown'> {
    try {
      const read = await this.store.getItem(id);
      return read.kind !== 'absent' ? 'present' : read.moved ? 'moved' : 'absent';
    } catch {
      return 'unknown';
    }
  }

  /**
   * A move's copy whose write got no answer may have landed: it is removed, best effort, before the error
   * goes on (the login fails: no cookie ever names the new id). Without it the copy lived on, reachable by
   * no cookie, until it expired (a "device" in the owner's list: H25). A write still in flight may land
   * after this removal.
   */
  private async undoUnansweredCopy(newId: string, error: unknown): Promise<never> {
    if (error instanceof SessionStateStoreUnavailableError) await this.removeCopy(newId, null).catch(() => undefined);
    throw error;
  }

  /** Removes the copy a `regenerateId()` wrote under its new id (nobody else knows that id yet). */
  private async removeCopy(newId: string, lockId: string | null): Promise<void> {
    if (lockId !== null) return this.store.removeItem(newId, lockId, { undoneCopy: true });
    const copy = await this.store.getItemExclusive(newId);
    if (copy.kind === 'acquired') await this.store.removeItem(newId, copy.lockId, { undoneCopy: true });
  }

  /** A failed step nobody waits for, logged by what failed (never with a session id); a store failure only once, by the measured store. */
  private logFailure(what: string, error: unknown, ...ids: (string | undefined)[]): void {
    logOperationFailure(this.logger, what, error, ids);
  }

  /**
   * Shutdown: waiting requests are turned away (503); in-flight ones finish and release their locks.
   * A handler still running after `shutdownTimeout` (at most `executionTimeout`) is past saving: its
   * lock is released, before a platform's grace period ends and the process is killed with it held.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    this.locks.close();
    this.closingStarted.next(); // the streams end (see `endAtShutdown`)
    this.closingStarted.complete();
    if (this.active.length === 0 && this.openStreams.size === 0) return;
    const drained = this.active.length === 0 ? undefined : new Promise<void>((resolve) => (this.onDrained = resolve));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([drained, ...this.openStreams]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.shutdownTimeoutMs))),
    ]);
    clearTimeout(timer);
    // Still running past shutdownTimeout: their locks are released now, and they count as completed,
    // so a handler that settles later writes nothing (the store may be closed by then). A completion
    // under way (its handler settled) is waited for; its failure was its request's to report.
    await Promise.all([...this.active].map((lease) => (lease.completion ? lease.completion.catch(() => {}) : this.abandonAtShutdown(lease))));
  }

  /**
   * Releases a lease still running at shutdown. Its completion, awaited by its handler once that
   * settles, then answers 503 (as a request turned away at shutdown): changes that were not saved
   * must never be answered with a 2xx. A read-only lease had nothing to save: it completes as usual.
   */
  private abandonAtShutdown(lease: SessionLease): Promise<void> {
    lease.abandonedAtShutdown = true;
    const released = this.releaseAtShutdown(lease);
    lease.completion =
      lease.behavior === SessionStateBehavior.ReadOnly
        ? released
        : released.then(() => {
            const error = new SessionStateWaitAbortedError(
              'The application shut down before this request finished: its session changes were not saved.',
            );
            this.observer.rejected(error, true);
            throw error;
          });
    lease.completion.catch(() => {}); // rejected for its handler, which may never settle
    return released;
  }

  private async releaseAtShutdown(lease: SessionLease): Promise<void> {
    try {
      if (!lease.lockId) return;
      this.logger.warn('Releasing the lock of a request still running at shutdown; its changes will not be saved.');
      await this.release(lease.session.previousId ?? lease.session.id, lease.lockId).catch((e) =>
        this.logFailure(RELEASING, e, lease.session.id, lease.session.previousId),
      );
    } finally {
      clearTimeout(lease.staleTimer);
      lease.turn?.releaseLocal();
      this.removeActive(lease);
    }
  }
}
