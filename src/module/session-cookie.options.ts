import { serialize } from 'cookie';
import { MAX_TIMEOUT_MINUTES } from '../session/session-limits.js';

export interface SessionCookieOptions {
  /** Cookie name. Default `sid`. A `__Secure-` or `__Host-` name needs `secure: true` (a `__Host-` one also the path `/`, no domain). */
  name?: string;
  /** Default `/`. Must start with `/`. A request outside it gets no session cookie (it would never come back), so starts no stored session. */
  path?: string;
  /** Default: none (host-only cookie). A host name (`example.com`: the cookie goes to its subdomains too). */
  domain?: string;
  /**
   * Milliseconds the browser keeps the cookie (a persistent cookie, like express-session's
   * `cookie.maxAge`), counted from each response that sends it; it is sent again whenever the
   * session's expiry slides, so it lives as long as an active session. At most `timeout`
   * (refused at startup otherwise): the cookie never outlives the session. Per session:
   * `session.cookie.maxAge`. Default: none (a browser-session cookie).
   */
  maxAge?: number;
  /** CHIPS: a cookie partitioned by top-level site, for an app embedded cross-site. Needs `secure` (true or `'auto'`). Default `false`. */
  partitioned?: boolean;
  /** Default `true`: scripts never see the session id. */
  httpOnly?: boolean;
  /** `'auto'` (default): Secure when the request came over HTTPS (behind a proxy, set the adapter's trust-proxy). */
  secure?: boolean | 'auto';
  /** Default `'lax'`. `'none'` needs `secure` (with `'auto'`, a request over plain HTTP gets `Lax`: browsers refuse `None` without `Secure`). */
  sameSite?: 'lax' | 'strict' | 'none';
}

/** The cookie options with every default filled in. */
export type ResolvedCookieOptions = Required<Omit<SessionCookieOptions, 'domain' | 'maxAge'>> & Pick<SessionCookieOptions, 'domain' | 'maxAge'>;

/**
 * The `cookie` options, defaulted and checked at startup (a bad value would otherwise answer 500
 * to every new session): each problem is pushed to `problems`.
 */
export function resolveCookieOptions(options: SessionCookieOptions | undefined, timeout: number, problems: string[]): ResolvedCookieOptions {
  const before = problems.length;
  const check = (ok: boolean, message: string) => ok || problems.push(message);
  const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

  // Undefined only takes the default: null is refused like any other wrong value.
  const given = <T>(value: T | undefined, fallback: T): T => (value === undefined ? fallback : value);
  const cookie = {
    name: given(options?.name, 'sid'),
    path: given(options?.path, '/'),
    domain: options?.domain,
    httpOnly: given(options?.httpOnly, true),
    secure: given<NonNullable<SessionCookieOptions['secure']>>(options?.secure, 'auto'),
    sameSite: given<NonNullable<SessionCookieOptions['sameSite']>>(options?.sameSite, 'lax'),
    maxAge: options?.maxAge,
    partitioned: given(options?.partitioned, false),
  };
  check(
    typeof cookie.name === 'string' && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookie.name),
    'cookie.name must be a valid cookie name (RFC 6265 token)',
  );
  check(['lax', 'strict', 'none'].includes(cookie.sameSite), "cookie.sameSite must be 'lax', 'strict' or 'none'");
  check(cookie.secure === true || cookie.secure === false || cookie.secure === 'auto', "cookie.secure must be true, false or 'auto'");
  check(cookie.sameSite !== 'none' || cookie.secure !== false, "cookie.sameSite 'none' needs cookie.secure true or 'auto'");
  // Cookie name prefixes (RFC 6265bis 4.1.3, matched case-insensitively by browsers): a browser drops a
  // `__Secure-` cookie without Secure, and a `__Host-` one also with a Domain or a Path other than `/`.
  // `'auto'` is refused too: over plain HTTP (or behind a proxy the adapter does not trust) it sends no
  // Secure, and every request would silently start a new session.
  const prefix = /^__(secure|host)-/i.exec(cookie.name)?.[1]?.toLowerCase();
  check(
    prefix === undefined || cookie.secure === true,
    `cookie.name ${JSON.stringify(cookie.name)} needs cookie.secure: true (browsers drop a __Secure- or __Host- cookie without Secure; 'auto' omits it over plain HTTP)`,
  );
  check(
    prefix !== 'host' || (cookie.domain === undefined && cookie.path === '/'),
    `cookie.name ${JSON.stringify(cookie.name)} needs cookie.path '/' and no cookie.domain (browsers drop a __Host- cookie otherwise)`,
  );
  check(typeof cookie.httpOnly === 'boolean', 'cookie.httpOnly must be true or false');
  check(typeof cookie.partitioned === 'boolean', 'cookie.partitioned must be true or false');
  check(
    !cookie.partitioned || cookie.secure !== false,
    "cookie.partitioned needs cookie.secure true or 'auto' (browsers refuse a Partitioned cookie without Secure)",
  );
  check(
    // oxlint-disable-next-line no-control-regex -- refusing control characters is the point
    typeof cookie.path === 'string' && cookie.path.startsWith('/') && !/[;\x00-\x1f\x7f]/.test(cookie.path),
    `cookie.path must start with '/' and hold no ';' or control character (got ${JSON.stringify(cookie.path)})`,
  );
  check(
    cookie.domain === undefined || (typeof cookie.domain === 'string' && isCookieDomain(cookie.domain)),
    `cookie.domain must be a host name such as 'example.com' (letters, digits, '-' and '.'; no '_', port, scheme or path) (got ${JSON.stringify(cookie.domain)})`,
  );
  check(
    cookie.maxAge === undefined || isInt(cookie.maxAge, 1000),
    'cookie.maxAge must be a whole number of milliseconds ≥ 1000 (it is sent in seconds)',
  );
  check(
    cookie.maxAge === undefined || !isInt(timeout, 1, MAX_TIMEOUT_MINUTES) || cookie.maxAge <= timeout * 60_000,
    `cookie.maxAge (${cookie.maxAge} ms) must not exceed timeout (${timeout} min = ${timeout * 60_000} ms): the cookie would outlive the session`,
  );

  if (problems.length === before) {
    // The cookie library is the one that writes the header: it must accept the cookie as configured
    // (otherwise every new session would answer 500).
    try {
      serialize(cookie.name, 'x'.repeat(32), {
        ...cookie,
        secure: cookie.secure !== false,
        maxAge: cookie.maxAge === undefined ? undefined : Math.floor(cookie.maxAge / 1000),
      });
    } catch (error) {
      problems.push(`cookie: ${(error as Error).message}`);
    }
  }

  return cookie;
}

/** A cookie Domain: dot-separated DNS labels (a leading dot is allowed and ignored by browsers). */
function isCookieDomain(domain: string): boolean {
  const host = domain.startsWith('.') ? domain.slice(1) : domain;
  return host.length > 0 && host.length <= 253 && host.split('.').every((label) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(label));
}
