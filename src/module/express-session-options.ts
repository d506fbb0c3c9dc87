/**
 * express-session's option names, with where each went here. An app moving from express-session
 * (docs/MIGRATING.md) passes them out of habit; refusing them with "not an option" alone would send
 * its author to the docs for every one, so the startup error says what to do instead.
 */
const MIGRATING = '(docs/MIGRATING.md)';

/** By option path (`cookie.expires` for a nested one): what replaces it. */
export const EXPRESS_SESSION_OPTIONS: Readonly<Record<string, string>> = {
  name: 'use cookie.name (default sid)',
  resave:
    'remove it: a session is written only when its data changed, and a request that changes nothing releases its lock and slides the expiry without rewriting the data',
  saveUninitialized: 'remove it: a new session is stored (and gets a cookie) only when a request writes to it, as saveUninitialized: false',
  rolling:
    'remove it: the expiry slides on every read-write request (timeout, in minutes), and a cookie.maxAge cookie is sent again whenever it slides',
  proxy:
    "remove it: cookie.secure 'auto' (the default) asks the adapter whether the request came over HTTPS, so set its trust-proxy setting instead (Express: app.set('trust proxy', 1); Fastify: trustProxy)",
  genid: 'remove it: ids are always 192 random bits from the CSPRNG (a custom generator is not supported)',
  unset: 'remove it: session.abandon() ends a session, session.delete(key) (or set(key, undefined)) removes a key',
  'cookie.expires': 'use cookie.maxAge (milliseconds, at most timeout), or session.cookie.maxAge per session',
  'cookie.encode': 'remove it: ids are base64url and need no encoding',
  'cookie.priority': 'remove it: the Priority attribute is not supported',
};

/** The message for an express-session option found at `path`, or undefined for any other key. */
export function expressSessionOptionMessage(path: string): string | undefined {
  const instead = Object.hasOwn(EXPRESS_SESSION_OPTIONS, path) ? EXPRESS_SESSION_OPTIONS[path] : undefined;
  return instead === undefined ? undefined : `${path} is an express-session option: ${instead} ${MIGRATING}`;
}

/**
 * Whether `store` looks like an express-session store (connect-redis, connect-dynamodb, MemoryStore…):
 * `get`/`set`/`destroy` with callbacks, no lock. Only used to word the startup error.
 */
export function isExpressSessionStore(store: unknown): boolean {
  if (store === null || typeof store !== 'object') return false;
  const s = store as Record<string, unknown>;
  return typeof s.get === 'function' && typeof s.set === 'function' && typeof s.destroy === 'function';
}
