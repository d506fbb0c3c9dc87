import { resolveCookieOptions, type ResolvedCookieOptions, type SessionCookieOptions } from './session-cookie.options.js';
import { MAX_TIMEOUT_MINUTES } from '../session/session-limits.js';
import { unknownOptionKeys, type OptionKeys } from './options-keys.js';
import { expressSessionOptionMessage, isExpressSessionStore } from './express-session-options.js';
import { isSaveOnError, type SaveOnError } from './save-on-error.policy.js';
import { InMemorySessionStateStore } from '../store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStore } from '../store/session-state-store.js';
import type { OwnerCapPolicy } from '../store/owner-slots.js';

export interface SessionLockWaitOptions {
  /** Requests of one session that may wait for its lock in this process; past it, 503 + Retry-After. Default 100. */
  maxQueueLength?: number;
  /**
   * First delay between polls for a lock held by another process, ms; doubles up to `pollMaxMs`, with
   * jitter. A poll is a read (the lock item, 1 read unit), and a lock attempt follows only when it reads
   * unlocked. Default 5.
   */
  pollMinMs?: number;
  /**
   * Longest delay between polls, ms: a waiter sees a release at most this late (plus a read and the
   * attempt). Default 50: about 27 reads per second of waiting once there (see docs/BENCHMARKS.md).
   */
  pollMaxMs?: number;
  /**
   * `Retry-After` (seconds) sent with the 503 of a full queue, and with the mount's 409 refusing a
   * middleware's change to `req.session` that another request outdated. Default 1.
   */
  retryAfterSeconds?: number;
}

export interface SessionStateModuleOptions {
  /** Where sessions live. Default: a new `InMemorySessionStateStore` (one process only). */
  store?: SessionStateStore;
  /** Minutes of inactivity after which a session expires (sliding). Default 20. */
  timeout?: number;
  /**
   * Seconds after which a held lock is considered stale and may be broken (ASP.NET's executionTimeout).
   * Default 110; at most 2 147 483.647 (2^31-1 ms, the longest a Node timer waits).
   */
  executionTimeout?: number;
  /**
   * Seconds shutdown (`app.close()`, the signal of `enableShutdownHooks()`) waits for requests still
   * running before it releases their locks unsaved (they answer 503 when they settle). Default 25: inside
   * the 30-second grace Kubernetes, ECS and Heroku give before they kill the process, which would leave
   * those locks to go stale (`executionTimeout`) and the next requests of their sessions waiting. The
   * wait never outlasts `executionTimeout`. 0: release at once.
   */
  shutdownTimeout?: number;
  /**
   * Minutes a session may live at most, counted from its creation or its last `regenerateId()` (call
   * it at login): past it the session is gone, however active (OWASP's absolute timeout). Checked
   * when the session is loaded, from the data read anyway (no extra store call). Default: none.
   */
  absoluteTimeout?: number;
  /**
   * Records, when a session is created or its id regenerated, a short summary of the client's user
   * agent and its address (as the platform reports it: Express's `trust proxy`, Fastify's
   * `trustProxy`), for `SessionManager.list`. Off by default: it is personal data. Default false.
   */
  recordClient?: boolean;
  cookie?: SessionCookieOptions;
  /** Signs the id cookie (HMAC-SHA256). First secret signs, all verify: prepend a new one to rotate. */
  secret?: string | string[];
  /**
   * Opt-in: the name of a request header that may carry the session id, for clients without a cookie
   * jar (native apps, CLIs), e.g. `'x-session-id'`. A request that carries this header (with any value)
   * names its session by it alone, and a new or regenerated id comes back in the same response header;
   * other requests use the cookie as before. Values are signed like the cookie. See docs/ID-HEADER.md.
   */
  idHeader?: string;
  lockWait?: SessionLockWaitOptions;
  /**
   * Whether the changes of a request whose handler (or a pipe) threw are saved: `false`
   * (default: discarded, ASP.NET's rule), `'client-errors'` (saved for an `HttpException` with a
   * status below 500), or a predicate `(error) => boolean`.
   */
  saveOnError?: SaveOnError;
  /**
   * At most this many live sessions per owner (`session.owner`, set at login). Checked when a session
   * gets its owner (or moves to a new id with one) and is saved, atomically across instances. Default: no cap.
   */
  maxSessionsPerOwner?: number;
  /**
   * What a sign-in beyond `maxSessionsPerOwner` does: `'revoke-oldest'` (default: the owner's session
   * that signed in first is revoked, as Spring Security's `maximumSessions`) or `'refuse'` (nothing is
   * saved; the request fails with `SessionStateOwnerCapError`, 409, which the app can turn into a message).
   */
  ownerCapPolicy?: OwnerCapPolicy;
}

/** Every option key, nested ones under their object's key (unknown keys are refused at startup). */
export const OPTION_KEYS: OptionKeys = {
  store: true,
  timeout: true,
  executionTimeout: true,
  shutdownTimeout: true,
  absoluteTimeout: true,
  recordClient: true,
  cookie: { name: true, path: true, domain: true, httpOnly: true, secure: true, sameSite: true, maxAge: true, partitioned: true },
  secret: true,
  idHeader: true,
  lockWait: { maxQueueLength: true, pollMinMs: true, pollMaxMs: true, retryAfterSeconds: true },
  saveOnError: true,
  maxSessionsPerOwner: true,
  ownerCapPolicy: true,
};

/** The options with every default filled in and every value checked. */
export interface ResolvedSessionStateOptions {
  store: SessionStateStore;
  timeout: number;
  executionTimeoutMs: number;
  /** How long shutdown waits for running requests (ms): `shutdownTimeout`, at most `executionTimeout`. */
  shutdownTimeoutMs: number;
  /** `absoluteTimeout` in ms; null: none. */
  absoluteTimeoutMs: number | null;
  recordClient: boolean;
  cookie: ResolvedCookieOptions;
  secrets: string[];
  /** The id header's name, lower-cased (Node's `headers` keys); undefined: ids travel in the cookie only. */
  idHeader: string | undefined;
  lockWait: Required<SessionLockWaitOptions>;
  saveOnError: SaveOnError;
  /** `maxSessionsPerOwner` and its policy; null: no cap. */
  ownerCap: { readonly max: number; readonly policy: OwnerCapPolicy } | null;
}

/**
 * The longest delay a Node timer can wait (2^31-1 ms, about 24.8 days): beyond it Node fires the
 * timer after 1 ms. Every option that feeds a timer is bounded by it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Longest `absoluteTimeout`: a year. */
export const MAX_ABSOLUTE_TIMEOUT_MINUTES = 525_600;

/**
 * `options` checked and defaulted. An option left out (undefined) takes its default; `null` is a
 * wrong value like any other (`store: useRedis ? redisStore : null` must not run on an in-memory store).
 */
export function resolveSessionStateOptions(options: SessionStateModuleOptions): ResolvedSessionStateOptions {
  assertOptionsObject(options, 'the options of SessionStateModule.forRoot');
  const problems: string[] = unknownOptionKeys(options, OPTION_KEYS, expressSessionOptionMessage);
  const check = (ok: boolean, message: string) => ok || problems.push(message);
  const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

  const timeout = given(options.timeout, 20);
  check(isInt(timeout, 1, MAX_TIMEOUT_MINUTES), `timeout must be a whole number of minutes from 1 to ${MAX_TIMEOUT_MINUTES}`);
  const executionTimeout = given(options.executionTimeout, 110);
  check(
    typeof executionTimeout === 'number' && executionTimeout > 0 && executionTimeout * 1000 <= MAX_TIMER_MS,
    `executionTimeout must be a positive number of seconds, at most ${MAX_TIMER_MS / 1000} (2^31-1 ms, about 24.8 days): ` +
      'a lock older than it is stale, and Node cannot time longer (it would fire at once)',
  );
  const shutdownTimeout = given(options.shutdownTimeout, 25);
  check(
    typeof shutdownTimeout === 'number' && shutdownTimeout >= 0 && shutdownTimeout * 1000 <= MAX_TIMER_MS,
    `shutdownTimeout must be a number of seconds from 0 to ${MAX_TIMER_MS / 1000}: how long shutdown waits for running requests`,
  );

  const absoluteTimeout = options.absoluteTimeout;
  check(
    absoluteTimeout === undefined || isInt(absoluteTimeout, 1, MAX_ABSOLUTE_TIMEOUT_MINUTES),
    `absoluteTimeout must be a whole number of minutes from 1 to ${MAX_ABSOLUTE_TIMEOUT_MINUTES} (a year), or left out`,
  );
  const recordClient = given(options.recordClient, false);
  check(typeof recordClient === 'boolean', 'recordClient must be true or false');

  const cookieIsObject = options.cookie === undefined || isObject(options.cookie);
  check(cookieIsObject, 'cookie must be an object ({ name, path, … }), or left out');
  const cookie = resolveCookieOptions(cookieIsObject ? options.cookie : undefined, timeout, problems);

  const secrets = options.secret === undefined ? [] : ([] as string[]).concat(options.secret);
  check(
    secrets.every((s) => typeof s === 'string' && s.length >= 16),
    'secret must be a string (or an array of strings) of at least 16 characters',
  );
  check(options.secret === undefined || secrets.length > 0, 'secret must not be an empty array');

  const idHeader = options.idHeader === undefined ? undefined : checkIdHeader(options.idHeader, problems);

  const lockWaitIsObject = options.lockWait === undefined || isObject(options.lockWait);
  check(lockWaitIsObject, 'lockWait must be an object ({ maxQueueLength, pollMinMs, … }), or left out');
  const wait: SessionLockWaitOptions = (lockWaitIsObject && options.lockWait) || {};
  const lockWait = {
    maxQueueLength: given(wait.maxQueueLength, 100),
    pollMinMs: given(wait.pollMinMs, 5),
    pollMaxMs: given(wait.pollMaxMs, 50),
    retryAfterSeconds: given(wait.retryAfterSeconds, 1),
  };
  check(isInt(lockWait.maxQueueLength, 1), 'lockWait.maxQueueLength must be a whole number ≥ 1');
  check(isInt(lockWait.pollMinMs, 1, MAX_TIMER_MS), `lockWait.pollMinMs must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}`);
  check(
    isInt(lockWait.pollMaxMs, isInt(lockWait.pollMinMs, 1) ? lockWait.pollMinMs : 1, MAX_TIMER_MS),
    `lockWait.pollMaxMs must be a whole number of milliseconds from lockWait.pollMinMs to ${MAX_TIMER_MS}`,
  );
  check(isInt(lockWait.retryAfterSeconds, 0), 'lockWait.retryAfterSeconds must be a whole number ≥ 0');

  const saveOnError = given(options.saveOnError, false);
  check(isSaveOnError(saveOnError), "saveOnError must be false, 'client-errors' or a function (error) => boolean");

  const store = options.store === undefined ? new InMemorySessionStateStore() : options.store;
  const storeLike = (isObject(store) ? store : {}) as Partial<SessionStateStore>;
  check(
    typeof storeLike.getItemExclusive === 'function',
    isExpressSessionStore(store)
      ? 'store is an express-session store (connect-redis, connect-dynamodb, MemoryStore…), which has no lock: ' +
          'use a SessionStateStore, e.g. new InMemorySessionStateStore() or new DynamoDBSessionStateStore() (docs/MIGRATING.md)'
      : 'store must be a SessionStateStore (e.g. new InMemorySessionStateStore() or new DynamoDBSessionStateStore())',
  );

  const max = options.maxSessionsPerOwner;
  const policy = given(options.ownerCapPolicy, 'revoke-oldest');
  check(max === undefined || isInt(max, 1), 'maxSessionsPerOwner must be a whole number ≥ 1');
  check(policy === 'refuse' || policy === 'revoke-oldest', "ownerCapPolicy must be 'revoke-oldest' or 'refuse'");
  check(options.ownerCapPolicy === undefined || max !== undefined, 'ownerCapPolicy needs maxSessionsPerOwner');
  check(
    max === undefined || typeof storeLike.claimOwnerSlot === 'function',
    'maxSessionsPerOwner needs a store that implements claimOwnerSlot (InMemorySessionStateStore, DynamoDBSessionStateStore, RedisSessionStateStore)',
  );

  if (problems.length > 0) {
    throw new TypeError(`SessionStateModule: invalid options:\n- ${problems.join('\n- ')}`);
  }
  const ownerCap = max === undefined ? null : { max, policy };
  return {
    store,
    timeout,
    executionTimeoutMs: executionTimeout * 1000,
    shutdownTimeoutMs: Math.min(shutdownTimeout, executionTimeout) * 1000,
    absoluteTimeoutMs: absoluteTimeout === undefined ? null : absoluteTimeout * 60_000,
    recordClient,
    cookie,
    secrets,
    idHeader,
    lockWait,
    saveOnError,
    ownerCap,
  };
}

/** `value`, or `fallback` when it is left out: `null` is kept, to be refused as a wrong value. */
function given<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Options that are not an object (a `forRootAsync` factory answering null, a number, or nothing: a
 * forgotten `return`) would otherwise start the application on every default, an in-memory store
 * included: refused, naming `source`.
 */
export function assertOptionsObject(options: unknown, source: string): asserts options is SessionStateModuleOptions {
  if (isObject(options)) return;
  const got =
    options === undefined
      ? 'undefined (a forgotten return?)'
      : Array.isArray(options)
        ? 'an array'
        : options === null
          ? 'null'
          : `${typeof options} ${JSON.stringify(options) ?? ''}`.trim();
  throw new TypeError(`SessionStateModule: invalid options:\n- ${source} must be an options object ({} for every default), got ${got}`);
}

/** An HTTP field name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;
/** Headers that carry something else, or that proxies and Node itself interpret. */
const RESERVED_HEADERS = new Set(['cookie', 'set-cookie', 'host', 'connection', 'content-length', 'content-type', 'transfer-encoding', 'upgrade']);

/**
 * Headers a browser (or a proxy on the way) sends by itself: as the id header, every browser request
 * would "use the header" and ignore its cookie, a new session each time, and the header's CSRF
 * argument (a page cannot make a browser send it) would not hold. `authorization` included: a browser
 * resends HTTP authentication by itself.
 */
const AMBIENT_HEADERS = new Set([
  'authorization',
  'cache-control',
  'date',
  'dnt',
  'expect',
  'forwarded',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'keep-alive',
  'origin',
  'pragma',
  'priority',
  'range',
  'referer',
  'te',
  'trailer',
  'upgrade-insecure-requests',
  'user-agent',
  'via',
]);
const AMBIENT_PREFIXES = ['accept', 'access-control-', 'sec-', 'proxy-', 'x-forwarded-'];

function checkIdHeader(name: unknown, problems: string[]): string | undefined {
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    problems.push("idHeader must be an HTTP header name (letters, digits, '-'…), e.g. 'x-session-id'");
    return undefined;
  }
  const lower = name.toLowerCase();
  if (RESERVED_HEADERS.has(lower)) problems.push(`idHeader must not be '${lower}': that header carries something else`);
  else if (AMBIENT_HEADERS.has(lower) || AMBIENT_PREFIXES.some((prefix) => lower.startsWith(prefix))) {
    problems.push(`idHeader must not be '${lower}': browsers or proxies send it by themselves; use a header of your own, e.g. 'x-session-id'`);
  }
  return lower;
}
