import type { Response } from 'supertest';

export interface SetCookie {
  name: string;
  value: string;
  /** Attribute names, lower-cased, mapped to their values (`true` for flags such as HttpOnly). */
  attributes: Map<string, string | true>;
  raw: string;
}

/** Every Set-Cookie header of a response, parsed (without decoding). */
export function setCookies(res: Response): SetCookie[] {
  const header = res.headers['set-cookie'] as string[] | string | undefined;
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [header];
  return lines.map((raw) => {
    const [pair, ...attrs] = raw.split(';').map((part) => part.trim());
    const eq = pair.indexOf('=');
    const attributes = new Map<string, string | true>();
    for (const attr of attrs) {
      const i = attr.indexOf('=');
      if (i === -1) attributes.set(attr.toLowerCase(), true);
      else attributes.set(attr.slice(0, i).toLowerCase(), attr.slice(i + 1));
    }
    return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes, raw };
  });
}

/** The `sid` Set-Cookie of a response, or undefined; fails when there is more than one. */
export function sidCookie(res: Response): SetCookie | undefined {
  const sids = setCookies(res).filter((c) => c.name === 'sid');
  if (sids.length > 1) throw new Error(`More than one sid Set-Cookie: ${sids.map((c) => c.raw).join(' | ')}`);
  return sids[0];
}

/** The new session id a response sets; fails when it sets none. */
export function sidOf(res: Response): string {
  const cookie = sidCookie(res);
  if (!cookie || cookie.value === '') throw new Error(`Expected a sid cookie, got: ${JSON.stringify(res.headers['set-cookie'])}`);
  return cookie.value;
}

export const cookieHeader = (sid: string) => `sid=${sid}`;
