import { SessionStateReadOnlyError } from './errors/session-state.errors.js';
import { generateSessionId } from './session-id.js';
import { MAX_TIMEOUT_MINUTES } from './session-state.options.js';

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

/** Longest owner accepted: DynamoDB's limit on an index key (2048 bytes) with room to spare. */
export const MAX_OWNER_LENGTH = 1024;

/**
 * A request's view of its session: a small bag of JSON values. Changes are detected by comparing
 * the serialised items with what was loaded, so mutating a value read from the session
 * (`s.get<string[]>('cart')!.push(x)`) is saved too. In a read-only session every write throws,
 * nested ones included (loaded values are frozen).
 */
export class HttpSessionState {
  readonly #items: Map<string, unknown>;
  readonly #isNew: boolean;
  readonly #isReadOnly: boolean;
  readonly #readOnlyReason: string | undefined;
  #id: string;
  #timeout: number;
  #abandoned = false;
  #previousId: string | undefined;
  #timeoutChanged = false;
  #owner: string | undefined;
  #ownerChanged = false;

  /** Made by the lifecycle (handlers receive it through `@Session()`); construct one yourself to unit-test a handler. */
  constructor(init: HttpSessionStateInit) {
    // A Map, not the parsed object: keys like `__proto__` stay plain data.
    this.#items = new Map(Object.entries(JSON.parse(init.items) as Record<string, unknown>));
    if (init.isReadOnly) for (const value of this.#items.values()) deepFreeze(value);
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
    this.assertWritable();
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_TIMEOUT_MINUTES) {
      throw new RangeError(`Session timeout must be a whole number of minutes from 1 to ${MAX_TIMEOUT_MINUTES}.`);
    }
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
    this.assertWritable();
    if (owner !== undefined && (typeof owner !== 'string' || owner.length === 0 || owner.length > MAX_OWNER_LENGTH)) {
      throw new TypeError(`Session owner must be a non-empty string of at most ${MAX_OWNER_LENGTH} characters, or undefined.`);
    }
    if (owner !== this.#owner) this.#ownerChanged = true;
    this.#owner = owner;
  }

  get<T = unknown>(key: string): T | undefined {
    return this.#items.get(key) as T | undefined;
  }

  /** Stores a JSON-serialisable value; `undefined` deletes the key. */
  set(key: string, value: unknown): this {
    this.assertWritable();
    if (value === undefined) this.#items.delete(key);
    else this.#items.set(key, value);
    return this;
  }

  has(key: string): boolean {
    return this.#items.has(key);
  }

  delete(key: string): boolean {
    this.assertWritable();
    return this.#items.delete(key);
  }

  clear(): void {
    this.assertWritable();
    this.#items.clear();
  }

  keys(): string[] {
    return [...this.#items.keys()];
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

  /** @internal */
  get timeoutChanged(): boolean {
    return this.#timeoutChanged;
  }

  /** @internal */
  get ownerChanged(): boolean {
    return this.#ownerChanged;
  }

  /** @internal The items as JSON object text, as the store keeps them. */
  serializeItems(): string {
    return JSON.stringify(Object.fromEntries(this.#items));
  }

  private assertWritable(): void {
    if (this.#isReadOnly) throw new SessionStateReadOnlyError(this.#readOnlyReason);
  }
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}
