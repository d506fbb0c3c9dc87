import { createHmac, timingSafeEqual } from 'node:crypto';
import { parse, serialize } from 'cookie';
import { isWellFormedSessionId } from '../session/session-id.js';
import type { ResolvedSessionStateOptions } from '../module/session-state.options.js';

/** What the cookie needs of an exchange (`core/session-exchange.ts` has it): the cookie layer sits below the core. */
export interface CookieExchange {
  cookieHeader(): string | undefined;
  isHttps(): boolean;
  canSetCookie(): boolean;
}

/** Longer cookie values are not ours: an id (32) plus a signature (43) and a dot. */
const MAX_VALUE_LENGTH = 76;

/**
 * How many verified cookie values are remembered (about 200 bytes each). A client sends the same
 * value on every request, and verifying it is an HMAC each time (in the profile, the largest single
 * cost of the session layer); past this many the memory is cleared and refills.
 */
const VERIFIED_VALUES = 4096;

export type ReadCookie = Readonly<{ id: string; resign: boolean }>;

/**
 * Reads and writes the session id cookie. Anything that is not a well-formed id with a valid
 * signature (when signing is on) reads as "no cookie": the request gets a new session, never an error.
 */
/** How many cookies of the session's name a request may carry that are looked at (a header is at most 16 KB). */
const MAX_SAME_NAME = 8;

/** A cookie value as `cookie`'s parse gives it: unquoted, percent-decoded where that is valid. */
function decodedValue(raw: string): string {
  const value = raw.length > 1 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export class SessionCookie {
  /**
   * Signed values already verified, and what they read as. Only valid values are kept, and the
   * answer depends on the value and this instance's secrets alone, so a value found here reads as
   * it would after a fresh check (whether its session exists is still the store's to say).
   */
  private readonly verified = new Map<string, ReadCookie>();

  constructor(private readonly options: ResolvedSessionStateOptions) {}

  /** The session id the request carries, and whether its signature is by an older secret (sign it again). */
  read(exchange: Pick<CookieExchange, 'cookieHeader'>): ReadCookie | null {
    const header = exchange.cookieHeader();
    if (!header) return null;
    let value: string | undefined;
    try {
      value = parse(header)[this.options.cookie.name];
    } catch {
      return null;
    }
    if (value === undefined) return null;
    const read = this.readValue(value);
    const { name } = this.options.cookie;
    // Two cookies of that name (a parent domain's app with another secret): the first that verifies is
    // ours. A new cookie of ours could never replace the other one, so reading the first alone started a
    // new session on every request (review R26). A leftover of this app under another `domain` or `path`
    // verifies too, and is read first (CHANGELOG).
    return read !== null || header.indexOf(`${name}=`) === header.lastIndexOf(`${name}=`) ? read : this.readLaterValue(header, name);
  }

  /** The first of the header's later values of cookie `name` that verifies (at most MAX_SAME_NAME looked at). */
  private readLaterValue(header: string, name: string): ReadCookie | null {
    let seen = 0;
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
      if (++seen === 1) continue; // the first, read above
      if (seen > MAX_SAME_NAME) break;
      const read = this.readValue(decodedValue(pair.slice(eq + 1).trim()));
      if (read !== null) return read;
    }
    return null;
  }

  /**
   * The session id a cookie value (or the id header's value, signed the same way) carries: null
   * unless it is a well-formed id with a valid signature (when signing is on).
   */
  readValue(value: string): ReadCookie | null {
    if (!value || value.length > MAX_VALUE_LENGTH) return null;
    if (this.options.secrets.length === 0) return isWellFormedSessionId(value) ? { id: value, resign: false } : null;
    const known = this.verified.get(value);
    if (known) return known;
    const unsigned = this.unsign(value);
    if (unsigned === null || !isWellFormedSessionId(unsigned.id)) return null;
    if (this.verified.size >= VERIFIED_VALUES) this.verified.clear();
    const read = Object.freeze(unsigned);
    this.verified.set(value, read);
    return read;
  }

  /**
   * The Set-Cookie value that names `id` (or, with null, clears the cookie). Made before any store
   * write, so a cookie that cannot be produced never leaves a record behind. `maxAgeMs`: a
   * persistent cookie (see `cookie-lifetime.ts`); undefined: a browser-session cookie.
   */
  setCookieFor(exchange: CookieExchange, id: string | null, maxAgeMs?: number): string {
    if (id === null) return this.serialize(exchange, '', { expires: new Date(0) });
    const maxAge = maxAgeMs === undefined ? {} : { maxAge: Math.floor(maxAgeMs / 1000), expires: new Date(Date.now() + maxAgeMs) };
    return this.serialize(exchange, this.value(id), maxAge);
  }

  /** The cookie value carrying `id`: the id, signed with the first secret when there are secrets. */
  value(id: string): string {
    return this.options.secrets.length > 0 ? `${id}.${sign(id, this.options.secrets[0])}` : id;
  }

  private serialize(exchange: CookieExchange, value: string, extra: { expires?: Date; maxAge?: number }): string {
    const { name, path, domain, httpOnly, secure, sameSite, partitioned } = this.options.cookie;
    const isSecure = secure === 'auto' ? exchange.isHttps() : secure;
    return serialize(name, value, {
      path,
      domain,
      httpOnly,
      // Browsers refuse `SameSite=None` without Secure (secure: 'auto' over plain HTTP): Lax then, as
      // express-session's and @fastify/session's 'auto' modes.
      sameSite: sameSite === 'none' && !isSecure ? 'lax' : sameSite,
      secure: isSecure,
      // Browsers refuse a Partitioned cookie without Secure (secure: 'auto' over plain HTTP).
      partitioned: partitioned && isSecure,
      ...extra,
    });
  }

  private unsign(value: string): { id: string; resign: boolean } | null {
    const dot = value.lastIndexOf('.');
    if (dot <= 0) return null;
    const id = value.slice(0, dot);
    const signature = Buffer.from(value.slice(dot + 1));
    const signer = this.options.secrets.findIndex((secret) => {
      const expected = Buffer.from(sign(id, secret));
      return expected.length === signature.length && timingSafeEqual(expected, signature);
    });
    return signer < 0 ? null : { id, resign: signer > 0 };
  }
}

function sign(id: string, secret: string): string {
  return createHmac('sha256', secret).update(id).digest('base64url');
}
