import { constants } from 'node:buffer';
import {
  SessionStateCorruptError,
  SessionStateReadOnlyError,
  SessionStateTooLargeError,
  SessionStateValueError,
} from '../errors/session-state.errors.js';
import type { JsonSafe, JsonValue, SessionInput, SessionKey, SessionStateData, SessionValue } from './session-data.js';
import { generateSessionId } from './session-id.js';
import { assertTimeoutMinutes } from './session-limits.js';
import { assertSessionValue } from './session-value.validator.js';

/**
 * Where the per-session cookie lifetime (`session.cookie.maxAge`) is kept among the stored items,
 * so that stores need no extra field. Hidden from the session's API; `set()` refuses the key.
 */
const COOKIE_MAX_AGE_KEY = 'nestjs-session-state:cookieMaxAge';
/** V8's longest string, in UTF-16 code units: longer JSON cannot be made (its UTF-8 is at least as many bytes). */
const { MAX_STRING_LENGTH } = constants;
const ABANDONED =
  'The session was abandoned (abandon()) in this request: it is removed at its end, so a write to it would be lost. ' +
  "Write before abandon(), or to the next request's new session.";

/** Refuses the keys the module keeps among the items for itself (as `set()` does). */
export function assertNotReservedKey(key: string): void {
  if (key === COOKIE_MAX_AGE_KEY) throw new SessionStateValueError(`Session key "${key}" is reserved.`, key, '');
}

/** The session cookie's lifetime for one session (`session.cookie`). */
export interface HttpSessionCookie {
  /**
   * Milliseconds the browser keeps the cookie after the response (a persistent cookie, e.g.
   * "remember me" at login); `null` for a browser-session cookie; `undefined` (the default, and
   * to go back to it) follows the module's `cookie.maxAge`. Never more than the session's
   * `timeout`: a larger value throws a `RangeError` (raise `session.timeout` first), and a
   * timeout lowered later caps it.
   */
  maxAge: number | null | undefined;
}

export interface HttpSessionStateInit {
  id: string;
  /** The stored items as loaded (JSON object text). */
  items: string;
  isNew: boolean;
  isReadOnly: boolean;
  /** Why writes are refused, when not for the handler's declaration (the message of `SessionStateReadOnlyError`). */
  readOnlyReason?: string;
  timeout: number;
  /** The stored owner, if any. */
  owner?: string;
}

/**
 * Longest owner accepted, in bytes of UTF-8: DynamoDB limits an index key (2048 bytes) in bytes,
 * so a limit in characters let a 700-character CJK owner (2100 bytes) through to a failed save.
 */
export const MAX_OWNER_BYTES = 1024;

/** A lone surrogate (`String.prototype.isWellFormed` is ES2024, past this build's target). */
const LONE_SURROGATE = /\p{Cs}/u;

/** Why `owner` is not a valid owner, or undefined when it is. */
export function ownerProblem(owner: unknown): string | undefined {
  if (typeof owner !== 'string') return `got ${owner === null ? 'null' : typeof owner}`;
  if (owner.length === 0) return 'got an empty string';
  // Stores keep UTF-8, where every lone surrogate becomes U+FFFD: 'bob\ud800' would read back as
  // 'bob\ufffd' and share that owner's index (revoking one signed out the other).
  if (LONE_SURROGATE.test(owner)) return 'got a string with a lone surrogate (not well-formed UTF-16)';
  // Cheap bound first: a character is at most 3 bytes of UTF-8 (a surrogate pair, 2 characters, 4).
  if (owner.length * 3 <= MAX_OWNER_BYTES) return undefined;
  const bytes = Buffer.byteLength(owner, 'utf8');
  return bytes > MAX_OWNER_BYTES ? `got ${bytes} bytes` : undefined;
}

/**
 * A request's view of its session: a small bag of JSON values, typed by `TData` (by default the
 * app-wide, augmentable `SessionStateData`; left empty, any string key with `JsonValue` values).
 * Values are checked at `set()`: what JSON would not give back as it was (a Date, a BigInt, a
 * Map, a class instance, a cycle…) throws a `SessionStateValueError` naming the key and the path.
 * Changes are detected by comparing the serialised items with what was loaded, so mutating a value
 * read from the session (`s.get('cart')!.push(x)`) is saved too. In a read-only session every
 * write throws `SessionStateReadOnlyError`, nested ones included (values are read through
 * read-only views).
 */
export class HttpSessionState<TData extends object = SessionStateData> {
  readonly #items: Map<string, unknown>;
  #isNew: boolean;
  readonly #isReadOnly: boolean;
  readonly #readOnlyReason: string | undefined;
  #id: string;
  #timeout: number;
  #abandoned = false;
  #previousId: string | undefined;
  #timeoutChanged = false;
  #owner: string | undefined;
  #ownerChanged = false;
  #cookieMaxAge: number | null | undefined;
  /** Keys whose object value code outside the session holds (see `serializeItems`); made on first use. */
  #exposed: Set<string> | undefined;
  #cookieChanged = false;
  /** `cookie.maxAge` as loaded: what the client's cookie was sent with (see `resetItems`). */
  readonly #loadedCookieMaxAge: number | null | undefined;
  #cookie: HttpSessionCookie | undefined;
  /** set(), delete() or clear() was called. */
  #written = false;
  /** A read-only session's views of its object values (see `readOnlyView`), one per object. */
  #views: WeakMap<object, object> | undefined;

  /** Made by the lifecycle (handlers receive it through `@Session()`); to unit-test a handler, use `createTestSession()` of `nestjs-session-state/testing`. */
  constructor(init: HttpSessionStateInit) {
    // A Map, not the parsed object: keys like `__proto__` stay plain data.
    this.#items = new Map(Object.entries(parseStoredItems(init.items)));
    const cookieMaxAge = this.#items.get(COOKIE_MAX_AGE_KEY);
    this.#items.delete(COOKIE_MAX_AGE_KEY);
    if (typeof cookieMaxAge === 'number' || cookieMaxAge === null) this.#cookieMaxAge = cookieMaxAge;
    this.#loadedCookieMaxAge = this.#cookieMaxAge;
    this.#id = init.id;
    this.#isNew = init.isNew;
    this.#isReadOnly = init.isReadOnly;
    this.#readOnlyReason = init.readOnlyReason;
    this.#timeout = init.timeout;
    this.#owner = init.owner;
  }

  /** The session id (after `regenerateId()`, the new one). Treat it as a secret: it is a bearer credential. */
  get id(): string {
    return this.#id;
  }

  /** True when the session was created by this request. */
  get isNew(): boolean {
    return this.#isNew;
  }

  get isReadOnly(): boolean {
    return this.#isReadOnly;
  }

  /** True once `abandon()` was called: the session is removed at the end of the request. */
  get isAbandoned(): boolean {
    return this.#abandoned;
  }

  /** Minutes of inactivity before this session expires. Settable per session. */
  get timeout(): number {
    return this.#timeout;
  }

  set timeout(minutes: number) {
    this.assertLive();
    assertTimeoutMinutes(minutes);
    if (minutes !== this.#timeout) this.#timeoutChanged = true;
    this.#timeout = minutes;
  }

  /**
   * Who this session belongs to, typically the user id, set at login: `SessionRevoker.revokeOwner(owner)`
   * removes every session of that owner (sign out everywhere). `undefined` clears it.
   */
  get owner(): string | undefined {
    return this.#owner;
  }

  set owner(owner: string | undefined) {
    this.assertLive();
    const problem = owner === undefined ? undefined : ownerProblem(owner);
    if (problem) {
      throw new TypeError(
        `Session owner must be a non-empty, well-formed string of at most ${MAX_OWNER_BYTES} bytes (UTF-8), or undefined: ${problem}.`,
      );
    }
    if (owner !== this.#owner) this.#ownerChanged = true;
    this.#owner = owner;
  }

  /** The session cookie's lifetime for this session; see `HttpSessionCookie`. */
  get cookie(): HttpSessionCookie {
    // Made on first use: most requests never look at it.
    return (this.#cookie ??= ((session: HttpSessionState<TData>) => ({
      get maxAge() {
        return session.#cookieMaxAge;
      },
      set maxAge(ms: number | null | undefined) {
        session.setCookieMaxAge(ms);
      },
    }))(this));
  }

  /** The value under `key` (typed by `TData`), or `undefined`. */
  get<K extends SessionKey<TData>>(key: K): SessionValue<TData, K> | undefined;
  /**
   * Untyped session (`SessionStateData` not augmented): a cast, unchecked at run time, to a type
   * that must be JSON data (`get<Date>('at')` does not compile).
   */
  get<T = JsonValue>(key: UntypedCastKey<TData, T>): T | undefined;
  get(key: string): unknown {
    const value = this.#items.get(key);
    if (typeof value !== 'object' || value === null) return value;
    if (this.#isReadOnly) return readOnlyView(value, (this.#views ??= new WeakMap()), this.#readOnlyReason);
    (this.#exposed ??= new Set()).add(key); // may be mutated in place
    return value;
  }

  /**
   * Stores a JSON value; `undefined` deletes the key. Throws `SessionStateValueError` (a
   * `TypeError`) for what JSON would not give back as it was, naming the key and the path.
   */
  set<K extends SessionKey<TData>>(key: K, value: SessionInput<TData, K> | undefined): this;
  /** Untyped session: a value of any type that is JSON data (interfaces included). */
  set<V>(key: UntypedKey<TData>, value: V & SettableJson<V>): this;
  set(key: string, value: unknown): this {
    this.assertLive();
    assertNotReservedKey(key);
    this.#written = true;
    if (value === undefined) {
      this.#items.delete(key);
      return this;
    }
    assertSessionValue(key, value);
    this.#items.set(key, value);
    // The caller keeps a reference to an object it stored: check it again at save.
    if (typeof value === 'object' && value !== null) (this.#exposed ??= new Set()).add(key);
    else this.#exposed?.delete(key);
    return this;
  }

  has(key: SessionKey<TData>): boolean {
    return this.#items.has(key);
  }

  delete(key: SessionKey<TData>): boolean {
    this.assertLive();
    this.#written = true;
    return this.#items.delete(key);
  }

  clear(): void {
    this.assertLive();
    this.#written = true;
    this.#items.clear();
  }

  keys(): SessionKey<TData>[] {
    return [...this.#items.keys()] as SessionKey<TData>[];
  }

  get size(): number {
    return this.#items.size;
  }

  /** Ends the session: it is removed from the store and its cookie cleared at the end of the request. */
  abandon(): void {
    this.assertWritable();
    this.#abandoned = true;
  }

  /**
   * Moves the session to a new id at the end of the request (and removes the old one): call it at
   * login, against session fixation. Answers the new id.
   */
  regenerateId(): string {
    this.assertWritable();
    this.#previousId ??= this.#id;
    this.#id = generateSessionId();
    return this.#id;
  }

  /** @internal The id the session was loaded under, when `regenerateId()` moved it. */
  get previousId(): string | undefined {
    return this.#previousId;
  }

  /**
   * @internal The session was written mid-request (`req.session.save()`), under its current id:
   * that is now the stored baseline (not new, not moved, its timeout and owner saved).
   */
  markSaved(): void {
    this.#isNew = false;
    this.#previousId = undefined;
    this.#timeoutChanged = false;
    this.#ownerChanged = false;
  }

  /** @internal The items go back to `items` (JSON object text, as stored): `req.session.reload()`. */
  resetItems(items: string): void {
    this.assertWritable();
    this.#items.clear();
    // The cookie's lifetime goes back too: the stored one, or none (the module's) when the items hold none.
    this.#cookieMaxAge = undefined;
    for (const [key, value] of Object.entries(parseStoredItems(items))) {
      if (key === COOKIE_MAX_AGE_KEY) this.#cookieMaxAge = typeof value === 'number' || value === null ? value : undefined;
      else this.#items.set(key, value);
    }
    // Changed only if it differs from the loaded one: a `save()` earlier in the request may have
    // stored another (without sending the cookie), which the client's cookie still needs.
    this.#cookieChanged = this.#cookieMaxAge !== this.#loadedCookieMaxAge;
    this.#exposed = undefined;
    this.#written = true; // compared with what was loaded at completion
  }

  /** @internal */
  get timeoutChanged(): boolean {
    return this.#timeoutChanged;
  }

  /** @internal */
  get ownerChanged(): boolean {
    return this.#ownerChanged;
  }

  /**
   * @internal Whether the items may differ from those loaded: something was written, the cookie's
   * lifetime (kept among the items) changed, or an object value was handed out (it may have been
   * mutated in place). When not, the lifecycle need not serialise them to know they did not change.
   */
  get itemsMayDiffer(): boolean {
    return this.#written || this.#cookieChanged || this.#exposed !== undefined;
  }

  /** @internal `cookie.maxAge`, without making the `cookie` object. */
  get cookieMaxAge(): number | null | undefined {
    return this.#cookieMaxAge;
  }

  /** @internal True when `cookie.maxAge` was changed by this request. */
  get cookieChanged(): boolean {
    return this.#cookieChanged;
  }

  /**
   * @internal The items as JSON object text, as the store keeps them. Objects handed out by `get()`
   * or kept by the caller after `set()` are checked again: a nested mutation
   * (`s.get('list')!.push(new Date())`) bypassed `set()`. The rest came from JSON or was checked.
   */
  serializeItems(): string {
    const items = Object.fromEntries(this.#items);
    if (this.#exposed) for (const key of this.#exposed) if (this.#items.has(key)) assertSessionValue(key, this.#items.get(key));
    if (this.#cookieMaxAge !== undefined) items[COOKIE_MAX_AGE_KEY] = this.#cookieMaxAge;
    try {
      return JSON.stringify(items);
    } catch (error) {
      // JSON longer than V8's longest string ("Invalid string length"): no store could take it, a 413 (it was a 500).
      if (error instanceof RangeError) throw new SessionStateTooLargeError(MAX_STRING_LENGTH + 1, MAX_STRING_LENGTH);
      throw error;
    }
  }

  private setCookieMaxAge(ms: number | null | undefined): void {
    this.assertLive();
    if (typeof ms === 'number') {
      const limit = this.#timeout * 60_000;
      if (!Number.isInteger(ms) || ms < 1000)
        throw new RangeError('session.cookie.maxAge must be a whole number of milliseconds ≥ 1000 (or null, or undefined).');
      if (ms > limit) {
        throw new RangeError(
          `session.cookie.maxAge (${ms} ms) would outlive the session (timeout ${this.#timeout} min = ${limit} ms): raise session.timeout first.`,
        );
      }
    } else if (ms !== null && ms !== undefined) {
      throw new RangeError('session.cookie.maxAge must be a number of milliseconds, null or undefined.');
    }
    if (ms !== this.#cookieMaxAge) this.#cookieChanged = true;
    this.#cookieMaxAge = ms;
  }

  private assertWritable(): void {
    if (this.#isReadOnly) throw new SessionStateReadOnlyError(this.#readOnlyReason);
  }

  /** Writable, and not abandoned: a write after `abandon()` would be lost with the session (review R19). */
  private assertLive(): void {
    this.assertWritable();
    if (this.#abandoned) throw new SessionStateReadOnlyError(ABANDONED);
  }
}

/**
 * Stored items, which this module always writes as a JSON object. Other JSON (`"abc"`, `[1,2]`: a
 * foreign record) read as `{"0":"a",…}`, which the next write stored over the record: refused, the
 * lifecycle reads the record as unreadable (a new session, the record left as it was).
 */
function parseStoredItems(items: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(items);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SessionStateCorruptError('A stored session cannot be read: its items are not a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

/** `string` for an untyped session; `never` (a compile error) once `TData` declares keys. */
type UntypedKey<TData> = [keyof TData] extends [never] ? string : never;

/** What an untyped `set()` takes: `undefined` (delete), or JSON data. */
type SettableJson<V> = [V] extends [JsonValue | undefined] ? V : V extends undefined ? undefined : JsonSafe<V>;

/**
 * `string` for an untyped session and a cast to JSON data; `never` (a compile error) for a typed
 * session (use its keys) or a cast to what JSON cannot hold.
 */
type UntypedCastKey<TData, T> = [T] extends [JsonValue] ? UntypedKey<TData> : [T] extends [JsonSafe<T>] ? UntypedKey<TData> : never;

/**
 * A read-only view of a session value, and of everything reached through it: any write throws
 * `SessionStateReadOnlyError` with its advice. (Frozen values threw a bare TypeError instead, and
 * sloppy-mode code's writes to them were ignored silently.) The value itself stays unfrozen, so
 * that each nested object read through the view is a view too.
 */
function readOnlyView(value: object, views: WeakMap<object, object>, reason: string | undefined): object {
  let view = views.get(value);
  if (view) return view;
  const refuse = (): never => {
    throw new SessionStateReadOnlyError(reason);
  };
  view = new Proxy(value, {
    get(target, key) {
      const child = Reflect.get(target, key) as unknown;
      return typeof child === 'object' && child !== null ? readOnlyView(child, views, reason) : child;
    },
    set: refuse,
    defineProperty: refuse,
    deleteProperty: refuse,
    setPrototypeOf: refuse,
    preventExtensions: refuse,
  });
  views.set(value, view);
  return view;
}
