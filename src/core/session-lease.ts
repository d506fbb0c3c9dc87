import type { HttpSessionState } from '../session/http-session-state.js';
import type { LocalTurn } from '../lock/session-lock-coordinator.js';
import type { SessionStateStoreData } from '../store/session-state-store.js';
import type { ActiveBehavior } from '../core/session-state-behavior.enum.js';

/** What one request holds of its session between acquisition and completion. */
export interface SessionLease {
  readonly behavior: ActiveBehavior;
  readonly session: HttpSessionState;
  /** The fencing token of the store lock this request holds; null when it holds none. */
  lockId: string | null;
  /** Read-only: the stored expiry is old enough to be refreshed (amortised, not every request). */
  readonly refreshExpiry: boolean;
  /** The cookie was signed with an older secret: sign it again with the current one. */
  readonly resignCookie: boolean;
  /**
   * The data as loaded; null for a new session (no record under its id). The session is written
   * only when its items differ from these; a hand-over of an unchanged session passes them on.
   */
  loaded: SessionStateStoreData | null;
  /** A read-write request's turn in this process's queue for the session (hands it on); null otherwise. */
  turn: LocalTurn | null;
  /** Set once the interceptor owns the lease (else the answer's start, or staleness, releases it). */
  adopted: boolean;
  /** When the session was acquired (Date.now()): its lock is stale `executionTimeout` later. */
  readonly acquiredAt: number;
  /** Set once completion started: it runs once. */
  completion?: Promise<void>;
  /** The last mid-request save asked for (`saveNow`), settled either way: saves run one after another, completion after them. */
  saving?: Promise<void>;
  /**
   * Whether the route's handler called `req.session` (`regenerate()`, `save()`, `destroy()`, ...: see
   * `noteSessionCall`). A `@Res()` handler that did (passport's `req.login(user, cb)`) may answer from a
   * callback after it returned, past an async step of its own (an async serializer: review R28), so its
   * session is completed when that answer ends (see `completeOnSettle`).
   */
  calledSession?: boolean;
  /** Shutdown released the lease while its handler ran (`abandonAtShutdown`): a save still under way must give back its new lock. */
  abandonedAtShutdown?: boolean;
  /** @internal Its place among the lifecycle's active leases while not completed. */
  activeIndex?: number;
  /** Handlers still running under the lease (GraphQL resolvers, see `SessionStateLifecycle.hold`). */
  running?: number;
  /** The last of them to run: a locked request's resolvers run one at a time, each after this settles. */
  resolvers?: Promise<void>;
  /** Called when the last of them settles, while a completion waits for it. */
  idle?: () => void;
  /** A guard's lease that no interceptor took over is released when this fires (lock stale). */
  staleTimer?: NodeJS.Timeout;
  /**
   * The answer held while guards run (`req.session` mounted: passport may answer from a guard);
   * let go when the interceptor takes the lease over.
   */
  guardAnswer?: { letGo(): void };
  /** The Set-Cookie a mid-request save sent (`saveNow`): completion does not send it twice. */
  cookieSent?: string;
  /** Runs before the session's data is serialised for a save (the mount keeps `owner` in step with passport's user). */
  beforeSave?: () => void;
}

type Held = Promise<SessionLease> | SessionLease;

/**
 * Each request's session: its acquisition while the session loads, then its lease, kept on the
 * request itself (the exchange's key: Express's or Fastify's request, a GraphQL request, a WebSocket
 * message) under a symbol, as express-session keeps `req.session`. Not a WeakMap entry per request:
 * entries are ephemerons, which every scavenge processes (`--trace-gc`: two entries per request cost
 * about 8 µs of collector pause, two properties about 3 µs). A key that cannot take a property (a
 * frozen GraphQL context) uses the WeakMap. Never deleted (a deleted property turns an object into a
 * slow dictionary object): it goes with its request.
 */
const LEASE = Symbol('nestjs-session-state:lease');
type Keyed = { [LEASE]?: Held };
const UNEXTENSIBLE = new WeakMap<object, Held>();

function heldBy(request: object): Held | undefined {
  const own = (request as Keyed)[LEASE];
  if (own !== undefined) return own;
  return Object.isExtensible(request) ? undefined : UNEXTENSIBLE.get(request);
}

/** The request's lease, once its session is loaded. */
export function leaseOf(request: object): SessionLease | undefined {
  const held = heldBy(request);
  return held instanceof Promise ? undefined : held;
}

/** The request's acquisition (or its lease, once loaded), if one began. */
export function acquisitionOf(request: object): Promise<SessionLease> | SessionLease | undefined {
  return heldBy(request);
}

/** Keeps the acquisition, then the lease, for the request. */
export function attachLease(request: object, held: Held): void {
  if (Object.isExtensible(request)) (request as Keyed)[LEASE] = held;
  else UNEXTENSIBLE.set(request, held);
}

/** Notes a `req.session` call of the route's handler under `lease` (see `SessionLease.calledSession`). */
export function noteSessionCall(lease: SessionLease): void {
  lease.calledSession = true;
}
