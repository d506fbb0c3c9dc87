import { renewsCookie } from './cookie-lifetime.js';
import { pathMatches, requestPathOf } from './cookie-path.js';
import { SessionCookie, type CookieExchange, type ReadCookie } from './session-cookie.js';
import type { ResolvedSessionStateOptions } from '../module/session-state.options.js';

/** What the id's carriers need of an exchange (`core/session-exchange.ts` has it). */
export interface IdExchange extends CookieExchange {
  /** A request header's value (lower-case name); absent on exchanges without request headers. */
  requestHeader?(name: string): string | undefined;
  appendSetCookie(value: string): void;
  setHeader(name: string, value: string): void;
  /** The request target (its URL as received, query included), for `cookie.path`; absent where no cookie can be set. */
  requestTarget?(): string | undefined;
}

/**
 * Where a request's session id travels: the cookie, or, when the app opted in (`idHeader`) and the
 * request carries that header, the header alone. One carrier per request, chosen by the client:
 * a browser sends the cookie by itself, while a header is only sent by code that means to, so a
 * request with the header is never also answered with a Set-Cookie, and a session named by the
 * cookie never has its id in a response header (JavaScript can read those; the cookie stays HttpOnly).
 * A header value is read and signed exactly as the cookie value is: anything else reads as no id.
 */
export class SessionIdCarrier {
  private readonly cookie: SessionCookie;
  private readonly header: string | undefined;
  /** `cookie.path` when it is not `/` (which every path matches): decided once, nothing per request by default. */
  private readonly scopedPath: string | undefined;

  constructor(private readonly options: ResolvedSessionStateOptions) {
    this.cookie = new SessionCookie(options);
    this.header = options.idHeader;
    this.scopedPath = options.cookie.path === '/' ? undefined : options.cookie.path;
  }

  /**
   * Whether what names the session can still reach the client: the exchange can set a cookie (its
   * answer has not left), and the cookie would come back (the request's path is inside `cookie.path`;
   * the id header has no path).
   */
  canSetCookie(exchange: IdExchange): boolean {
    return exchange.canSetCookie() && (this.scopedPath === undefined || !this.outsideCookiePath(exchange));
  }

  /** Whether the request's path is outside `cookie.path` (and the cookie, not the id header, names its session). */
  outsideCookiePath(exchange: IdExchange): boolean {
    if (this.scopedPath === undefined || this.usesHeader(exchange)) return false;
    return !pathMatches(this.scopedPath, requestPathOf(exchange.requestTarget?.()));
  }

  /**
   * Whether the request names its session by the id header: it carries the header, with any value
   * (a client without a session sends it empty, or with a placeholder, to get its id back there).
   */
  usesHeader(exchange: Pick<IdExchange, 'requestHeader'>): boolean {
    return this.header !== undefined && exchange.requestHeader?.(this.header) !== undefined;
  }

  /** The session id the request carries (null: none, or not a valid one), and whether to sign it again. */
  read(exchange: Pick<IdExchange, 'cookieHeader' | 'requestHeader'>): ReadCookie | null {
    if (this.header !== undefined) {
      const value = exchange.requestHeader?.(this.header);
      if (value !== undefined) return this.cookie.readValue(value);
    }
    return this.cookie.read(exchange);
  }

  /**
   * What names `id` on the answer (null: what tells the client its session is gone): a Set-Cookie
   * value, or the id header's value (the signed id; empty for none, as Spring Session's
   * `HeaderHttpSessionIdResolver`). Made before any store write: one that cannot be made leaves no record.
   */
  answerFor(exchange: IdExchange, id: string | null, maxAgeMs?: number): string {
    if (!this.usesHeader(exchange)) return this.cookie.setCookieFor(exchange, id, maxAgeMs);
    return id === null ? '' : this.cookie.value(id);
  }

  /** Puts `answerFor`'s value on the exchange's answer. */
  send(exchange: IdExchange, answer: string): void {
    if (this.usesHeader(exchange)) exchange.setHeader(this.header!, answer);
    else exchange.appendSetCookie(answer);
  }

  /**
   * Whether an unchanged id is sent again for its lifetime (`renewsCookie`). Never in the header: it
   * has no expiry (the session's own timeout applies); a re-signing is planned apart.
   */
  renews(session: Parameters<typeof renewsCookie>[0], exchange: IdExchange): boolean {
    return !this.usesHeader(exchange) && renewsCookie(session, this.options, exchange);
  }
}
