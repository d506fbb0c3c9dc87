import { createHmac } from 'node:crypto';
import { SessionCookie } from '../../src/cookie/session-cookie.js';
import { resolveSessionStateOptions } from '../../src/module/session-state.options.js';

const ID = 'a'.repeat(32);
const sign = (id: string, secret: string) => `${id}.${createHmac('sha256', secret).update(id).digest('base64url')}`;
const header = (value: string) => ({ cookieHeader: () => `other=1; sid=${value}` });

describe('SessionCookie.read with secrets (verified values are remembered)', () => {
  const cookie = new SessionCookie(resolveSessionStateOptions({ secret: ['new-secret-0123456789abcdef', 'old-secret-0123456789abcdef'] }));

  it('reads a value signed with the current secret, the same on every request', () => {
    expect(cookie.read(header(sign(ID, 'new-secret-0123456789abcdef')))).toEqual({ id: ID, resign: false });
    expect(cookie.read(header(sign(ID, 'new-secret-0123456789abcdef')))).toEqual({ id: ID, resign: false });
  });

  it('an older secret still verifies, and asks to sign again, every time', () => {
    expect(cookie.read(header(sign(ID, 'old-secret-0123456789abcdef')))).toEqual({ id: ID, resign: true });
    expect(cookie.read(header(sign(ID, 'old-secret-0123456789abcdef')))).toEqual({ id: ID, resign: true });
  });

  it('a value verified before does not make a tampered one valid: other signature, other id, unsigned', () => {
    const valid = sign(ID, 'new-secret-0123456789abcdef');
    expect(cookie.read(header(valid))).not.toBeNull();
    expect(cookie.read(header(`${valid.slice(0, -1)}${valid.endsWith('A') ? 'B' : 'A'}`))).toBeNull();
    expect(cookie.read(header(`${'b'.repeat(32)}${valid.slice(32)}`))).toBeNull();
    expect(cookie.read(header(ID))).toBeNull();
    expect(cookie.read(header(sign(ID, 'unknown-secret-0123456789abc')))).toBeNull();
  });

  it('a signature of the wrong length (cut short, padded, empty) reads as no cookie, never an error', () => {
    const valid = sign(ID, 'new-secret-0123456789abcdef');
    for (const value of [valid.slice(0, -5), `${valid}A`, `${ID}.`, `${ID}.x`]) expect(cookie.read(header(value))).toBeNull();
  });

  it("two cookies of its name (one left over from another domain or path, or a parent domain's app): the first that verifies", () => {
    const ours = sign(ID, 'new-secret-0123456789abcdef');
    const foreign = sign('c'.repeat(32), 'another-apps-secret-0123456789');
    expect(cookie.read({ cookieHeader: () => `sid=${foreign}; other=1; sid=${ours}` })).toEqual({ id: ID, resign: false });
    expect(cookie.read({ cookieHeader: () => `sid=${ours}; sid=${foreign}` })).toEqual({ id: ID, resign: false });
    expect(cookie.read({ cookieHeader: () => `sid=garbage; sid="${encodeURIComponent(ours)}"` })).toEqual({ id: ID, resign: false });
    expect(cookie.read({ cookieHeader: () => `sid=${foreign}; sid=garbage` })).toBeNull();
    // Only the first 8 of that name are looked at.
    expect(cookie.read({ cookieHeader: () => `${'sid=x; '.repeat(8)}sid=${ours}` })).toBeNull();
  });

  it('its answers cannot be changed by a caller (shared between requests)', () => {
    const read = cookie.read(header(sign(ID, 'new-secret-0123456789abcdef')))!;
    expect(Object.isFrozen(read)).toBe(true);
  });

  it('stays bounded: past its size it forgets, and reads stay right', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => `${String(i).padStart(32, 'c')}`);
    for (const id of ids) expect(cookie.read(header(sign(id, 'new-secret-0123456789abcdef')))?.id).toBe(id);
    expect((cookie as unknown as { verified: Map<string, unknown> }).verified.size).toBeLessThanOrEqual(4096);
    expect(cookie.read(header(sign(ids[0]!, 'new-secret-0123456789abcdef')))?.id).toBe(ids[0]);
  });
});

describe('SessionCookie Set-Cookie attributes', () => {
  const exchange = (https: boolean) => ({ cookieHeader: () => undefined, isHttps: () => https, canSetCookie: () => true });

  it("sameSite 'none' with secure 'auto': SameSite=None; Secure over HTTPS, SameSite=Lax over plain HTTP (browsers refuse None without Secure)", () => {
    const cookie = new SessionCookie(resolveSessionStateOptions({ cookie: { sameSite: 'none' } }));
    expect(cookie.setCookieFor(exchange(true), ID)).toBe(`sid=${ID}; Path=/; HttpOnly; Secure; SameSite=None`);
    expect(cookie.setCookieFor(exchange(false), ID)).toBe(`sid=${ID}; Path=/; HttpOnly; SameSite=Lax`);
  });

  it("partitioned with secure 'auto': Partitioned; Secure over HTTPS, no Partitioned over plain HTTP (browsers refuse it without Secure)", () => {
    const cookie = new SessionCookie(resolveSessionStateOptions({ cookie: { sameSite: 'none', partitioned: true } }));
    expect(cookie.setCookieFor(exchange(true), ID)).toMatch(/; Secure; .*Partitioned|; Partitioned; .*Secure/);
    expect(cookie.setCookieFor(exchange(false), ID)).not.toMatch(/Partitioned/);
  });

  it('a persistent cookie carries Max-Age and the matching Expires (clients that read only Expires keep it too)', () => {
    const cookie = new SessionCookie(resolveSessionStateOptions({}));
    const before = Date.now();
    const value = cookie.setCookieFor(exchange(false), ID, 600_000);
    expect(value).toMatch(/; Max-Age=600;/);
    const expires = Date.parse(/; Expires=([^;]+)/.exec(value)?.[1] ?? '');
    // Expires has whole seconds: within a second of now + 10 minutes.
    expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 600_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 600_000);
  });

  it("sameSite 'none' with secure: true stays None over plain HTTP (Secure is sent)", () => {
    const cookie = new SessionCookie(resolveSessionStateOptions({ cookie: { sameSite: 'none', secure: true } }));
    expect(cookie.setCookieFor(exchange(false), ID)).toBe(`sid=${ID}; Path=/; HttpOnly; Secure; SameSite=None`);
  });
});
