import type { HttpSessionState } from '../../../session/http-session-state.js';
import { noteSessionCall } from '../../../core/session-lease.js';
import { SessionStateError, SessionStateReadOnlyError } from '../../../errors/session-state.errors.js';
import { NO_LOCK_MESSAGE, SAVE_BEFORE_ROUTE_MESSAGE, type RequestSessionBinding } from './request-session.binding.js';
import { toHttpException } from '../to-http-exception.js';

/** A callback in the style of express-session's methods. */
type Callback = (error?: unknown) => void;

/** The session as the facade reads and writes it: untyped keys (the app's typing is `@Session()`'s). */
interface UntypedSession {
  get(key: string): unknown;
  set(key: string, value: unknown): unknown;
  has(key: string): boolean;
  delete(key: string): boolean;
  keys(): string[];
}

/** express-session's `req.session.cookie`, over the session's cookie lifetime. */
export interface RequestSessionCookie {
  /** Milliseconds the browser keeps the cookie (see `HttpSessionCookie.maxAge`). */
  maxAge: number | null | undefined;
  readonly originalMaxAge: number | null | undefined;
  /**
   * When the cookie expires, for a persistent cookie. Settable as in express-session: `null` (or
   * `false`) makes a browser-session cookie (`maxAge` null), a `Date` sets `maxAge` to the time until it.
   */
  expires: Date | null;
}

/**
 * `req.session` as the middleware ecosystem knows it, over the request's `HttpSessionState`:
 * express-session's `Session` (data as enumerable properties, `id`, `cookie`, `regenerate`, `save`,
 * `reload`, `destroy`, `touch`; callback or promise) and @fastify/session's (`get`, `set`,
 * `delete`, `regenerate(keepKeys?)`, `sessionId`). Data keys named like one of these members are
 * reached through `get`/`set` only.
 */
export interface RequestSession {
  [key: string]: unknown;
  readonly id: string;
  readonly sessionId: string;
  readonly cookie: RequestSessionCookie;
  regenerate(keepKeysOrCallback?: string[] | Callback, callback?: Callback): Promise<void>;
  save(callback?: Callback): Promise<void>;
  reload(callback?: Callback): Promise<void>;
  destroy(callback?: Callback): Promise<void>;
  touch(): RequestSession;
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  delete(key?: string): void;
}

/** Why `reload()` fails for a session the store does not hold under its id. */
export const RELOAD_UNSTORED_MESSAGE =
  'req.session.reload(): the session is not stored under its id (it is new, or regenerate() gave it a new id in this request): nothing to reload.';

/**
 * `req.session.cookie.expires = value` as the `maxAge` it means (express-session's setter): `null` or
 * `false` a browser-session cookie; a `Date` the milliseconds until it (checked as `maxAge` is).
 */
function maxAgeOfExpires(at: unknown): number | null {
  if (at === null || at === false) return null;
  if (at instanceof Date && !Number.isNaN(at.getTime())) return at.getTime() - Date.now();
  throw new TypeError(
    'req.session.cookie.expires takes a Date, or null (a browser-session cookie); set req.session.cookie.maxAge (milliseconds) instead.',
  );
}

/** The members of the facade; everything else is the session's data. */
const MEMBERS = new Set(['id', 'sessionId', 'cookie', 'regenerate', 'save', 'reload', 'destroy', 'touch', 'resetMaxAge', 'get', 'set', 'delete']);

/**
 * Makes the `req.session` of `binding`'s request. After `regenerate()` the request gets a new
 * facade (express-session and passport's `keepSessionInfo` read the old object's data after it):
 * this one then shows the data as it was, read-only.
 */
export function requestSessionFacade(
  binding: RequestSessionBinding,
  setOnRequest: (session: RequestSession | undefined) => void,
  /** The data of the facade this one replaced (a `regenerate()`): what passport's `keepSessionInfo` merge copies. */
  predecessor?: ReadonlyMap<string, unknown>,
): RequestSession {
  /** The data as it was when a `regenerate()` replaced this facade. */
  let replaced: Map<string, unknown> | undefined;
  const session = () => binding.session() as unknown as UntypedSession & HttpSessionState;
  const refuseReplaced = (): never => {
    throw new SessionStateError('This req.session object was replaced by regenerate(): use req.session again (the new one).');
  };
  const data = {
    get: (key: string) => (replaced ? replaced.get(key) : session().get(key)),
    has: (key: string) => (replaced ? replaced.has(key) : session().has(key)),
    keys: () => (replaced ? [...replaced.keys()] : session().keys()),
  };

  /**
   * A key removed. On a route that holds no lock, an authentication strategy signing out a user it
   * can no longer find does this from a promise chain nobody handles (@fastify/passport): a throw
   * there would leave the request without an answer. So the removal applies to this request's copy
   * of the session, not saved, with a warning (`RequestSessionBinding.detachForRemoval`).
   */
  const removing = (key: string, remove: () => void): void => {
    binding.detachForRemoval();
    remove();
  };

  /**
   * A call that would change what is stored (`regenerate()`, `destroy()`) once the request's session was
   * completed (a `@Res()` handler going on after its answer): nothing would be saved, so its callback gets
   * an error, as `save()`'s does, never a success for a session left as it was (review R24).
   */
  const refuseCompleted = (method: string): void => {
    if (!binding.beforeRoute && !binding.withoutLock && binding.current().completion)
      throw new SessionStateError(
        `req.session.${method}(): this request's session was already completed (its answer is sent): nothing would be saved.`,
      );
  };

  /** A value written: refused at once on a route that holds no lock (even after a removal there). */
  const adding = (key: string, value: unknown): void => {
    if (binding.withoutLock) throw new SessionStateReadOnlyError(NO_LOCK_MESSAGE);
    session().set(key, value);
  };

  /**
   * Runs `work`, then answers through `callback` (express-session) and the promise (@fastify/session).
   * Noted on the route's lease: a `@Res()` handler that returned meanwhile may answer from the callback.
   */
  const settle = (work: () => Promise<void> | void, callback?: Callback): Promise<void> => {
    if (!binding.beforeRoute) noteSessionCall(binding.current());
    const done = (async () => work())();
    if (callback) {
      void done.then(() => callback(), callback);
      return done.catch(() => {}); // the callback had the error
    }
    return done;
  };

  const members = {
    get id() {
      return session().id;
    },
    get sessionId() {
      return session().id;
    },
    get cookie(): RequestSessionCookie {
      const current = session();
      const cookie = current.cookie;
      // What the cookie's Max-Age will be: the session's own lifetime, else the module's `cookie.maxAge`
      // (as express-session's cookie reads its configured one; review R40). null/undefined: a browser-session cookie.
      const lifetime = () => binding.lifecycle.cookieLifetime(current) ?? cookie.maxAge;
      return {
        get maxAge() {
          return lifetime();
        },
        set maxAge(ms) {
          cookie.maxAge = ms;
        },
        get originalMaxAge() {
          return lifetime();
        },
        get expires() {
          const ms = lifetime();
          return typeof ms === 'number' ? new Date(Date.now() + ms) : null;
        },
        set expires(at: Date | null) {
          cookie.maxAge = maxAgeOfExpires(at);
        },
      };
    },
    regenerate(keepKeysOrCallback?: string[] | Callback, callback?: Callback): Promise<void> {
      const keep = Array.isArray(keepKeysOrCallback) ? keepKeysOrCallback : [];
      const cb = typeof keepKeysOrCallback === 'function' ? keepKeysOrCallback : callback;
      return settle(() => {
        if (replaced) refuseReplaced();
        refuseCompleted('regenerate');
        // Keeping nothing is a sign-out (@fastify/passport's logOut): see `removing`.
        if (!keep.some((key) => session().has(key))) binding.detachForRemoval();
        const current = session();
        const before = new Map(current.keys().map((key) => [key, current.get(key)]));
        // A new, empty session under a new id (session fixation): only the kept keys stay.
        current.clear();
        current.owner = undefined;
        current.cookie.maxAge = undefined;
        for (const key of keep) if (before.has(key)) current.set(key, before.get(key));
        current.regenerateId();
        replaced = before;
        setOnRequest(requestSessionFacade(binding, setOnRequest, before));
      }, cb);
    },
    save(callback?: Callback): Promise<void> {
      return settle(() => {
        if (replaced) refuseReplaced();
        // Nothing is held to save under: reported to the caller (passport hands it to its callback), never a success.
        if (binding.beforeRoute) throw new SessionStateError(SAVE_BEFORE_ROUTE_MESSAGE);
        if (binding.withoutLock) throw new SessionStateReadOnlyError(NO_LOCK_MESSAGE);
        // A session error reaches the caller (passport, then its guard) as its HTTP answer (409, 413, 503).
        return binding.lifecycle.saveNow(binding.current(), binding.exchange).catch((error: unknown) => {
          throw toHttpException(error, binding.exchange);
        });
      }, callback);
    },
    reload(callback?: Callback): Promise<void> {
      return settle(() => {
        if (replaced) refuseReplaced();
        const lease = binding.current();
        const current = binding.session();
        if (current.isReadOnly) return;
        // As express-session, whose reload of an id the store does not hold fails: a session new to the
        // store, or moved to a new id by regenerate() and not saved since, has nothing stored to reload
        // (the loaded data is the old id's, which regenerate() dropped).
        if (lease.loaded === null || current.previousId !== undefined) throw new SessionStateError(RELOAD_UNSTORED_MESSAGE);
        // With the lock held nobody else wrote it: what this request loaded is what is stored.
        current.resetItems(lease.loaded.items);
      }, callback);
    },
    destroy(callback?: Callback): Promise<void> {
      return settle(() => {
        if (replaced) refuseReplaced();
        // Before the route is known, carried over to the route's locked session; a route without lock refuses it.
        if (binding.withoutLock) throw new SessionStateReadOnlyError(NO_LOCK_MESSAGE);
        refuseCompleted('destroy');
        session().abandon(); // removed at the end of the request, the lock held until then
        setOnRequest(undefined);
      }, callback);
    },
    touch() {
      return facade; // the expiry slides at the end of every request that uses the session
    },
    resetMaxAge() {
      return facade;
    },
    get: (key: string) => data.get(key),
    set: (key: string, value: unknown) => {
      if (replaced) refuseReplaced();
      if (value === undefined) removing(key, () => session().set(key, value));
      else adding(key, value);
    },
    delete: (key?: string) => {
      if (replaced) refuseReplaced();
      // @fastify/secure-session's delete() ends the session; with a key, that key goes.
      if (key === undefined) {
        if (binding.withoutLock) throw new SessionStateReadOnlyError(NO_LOCK_MESSAGE);
        session().abandon();
      } else removing(key, () => session().delete(key));
    },
  };

  const facade: RequestSession = new Proxy({} as RequestSession, {
    get(target, key, receiver) {
      if (typeof key === 'symbol') return Reflect.get(target, key, receiver) as unknown;
      // Replaced by regenerate() (its methods refuse anyway): a data key named like a member reads as the
      // data, so that passport's keepSessionInfo merge (`for (key in old) new[key] = old[key]`) copies it.
      if (MEMBERS.has(key)) return replaced?.has(key) ? replaced.get(key) : (Reflect.get(members, key) as unknown);
      return data.has(key) ? data.get(key) : (Reflect.get(target, key, receiver) as unknown);
    },
    set(_target, key, value) {
      if (typeof key === 'symbol' || MEMBERS.has(key)) {
        // `req.session.cookie = …` (utils-merge copying an express-session object): the cookie stays ours.
        if (key === 'cookie') return true;
        // That merge, copying a data key named like a member from the session this one replaced: kept as data.
        if (typeof key === 'string' && !replaced && predecessor?.has(key) && predecessor.get(key) === value) {
          adding(key, value);
          return true;
        }
        throw new SessionStateError(
          `req.session.${String(key)} is part of the session's API, not its data: use req.session.set('${String(key)}', value).`,
        );
      }
      if (replaced) refuseReplaced();
      if (value === undefined) removing(key, () => session().set(key, value));
      else adding(key, value);
      return true;
    },
    deleteProperty(_target, key) {
      if (typeof key === 'symbol' || MEMBERS.has(key)) return false;
      if (replaced) refuseReplaced();
      removing(key, () => session().delete(key));
      return true;
    },
    has(target, key) {
      return typeof key === 'string' && (MEMBERS.has(key) || data.has(key)) ? true : Reflect.has(target, key);
    },
    ownKeys() {
      return data.keys();
    },
    getOwnPropertyDescriptor(_target, key) {
      if (typeof key !== 'string' || !data.has(key)) return undefined;
      return { value: data.get(key), writable: true, enumerable: true, configurable: true };
    },
    defineProperty(_target, key, descriptor) {
      if (typeof key === 'symbol' || MEMBERS.has(key) || !('value' in descriptor)) return false;
      if (replaced) refuseReplaced();
      adding(key, descriptor.value);
      return true;
    },
  });
  return facade;
}
