import type { CookieExchange } from './session-cookie.js';
import type { ResolvedSessionStateOptions } from '../module/session-state.options.js';

/** What the cookie's lifetime depends on, of an `HttpSessionState` of any data type. */
interface SessionCookieLifetime {
  /** `session.cookie.maxAge`, read without making the `cookie` object. */
  readonly cookieMaxAge: number | null | undefined;
  readonly timeout: number;
  readonly cookieChanged: boolean;
}

/**
 * The lifetime of a session's cookie, in ms: the session's own `cookie.maxAge`, else the module's;
 * `undefined` for a browser-session cookie. Never longer than the session's timeout, so the cookie
 * never outlives the session (a timeout lowered after `cookie.maxAge` was set caps it).
 */
export function cookieMaxAgeOf(session: SessionCookieLifetime, options: ResolvedSessionStateOptions): number | undefined {
  const own = session.cookieMaxAge;
  const maxAge = own === undefined ? options.cookie.maxAge : (own ?? undefined);
  return maxAge === undefined ? undefined : Math.min(maxAge, session.timeout * 60_000);
}

/**
 * Whether this response sends the cookie again although the id did not change: any cookie whose
 * lifetime this request changed, and a persistent cookie whenever the session's expiry slides (so
 * it lives as long as an active session). That renewal is skipped, silently, when an `@Res()`
 * handler already sent the response: the cookie keeps its previous expiry.
 */
export function renewsCookie(
  session: SessionCookieLifetime,
  options: ResolvedSessionStateOptions,
  exchange: Pick<CookieExchange, 'canSetCookie'>,
): boolean {
  if (session.cookieChanged) return true;
  return cookieMaxAgeOf(session, options) !== undefined && exchange.canSetCookie();
}
