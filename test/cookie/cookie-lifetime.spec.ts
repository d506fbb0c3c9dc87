import { cookieMaxAgeOf } from '../../src/cookie/cookie-lifetime.js';
import { resolveSessionStateOptions } from '../../src/module/session-state.options.js';
import { createTestSession } from '../../src/testing/test-session.js';

/** The lifetime of the session cookie, from the module's `cookie.maxAge` and the session's own. */
describe('cookieMaxAgeOf', () => {
  const persistent = resolveSessionStateOptions({ cookie: { maxAge: 10 * 60_000 } });

  it("the module's maxAge by default", () => {
    expect(cookieMaxAgeOf(createTestSession({}, { timeout: 20 }), persistent)).toBe(10 * 60_000);
  });

  it('never outlives the session: a timeout lowered below the maxAge caps it', () => {
    const session = createTestSession({}, { timeout: 20 });
    session.timeout = 5;
    expect(cookieMaxAgeOf(session, persistent)).toBe(5 * 60_000);
  });

  it("a session's own cookie.maxAge = null is a browser-session cookie, even under a module maxAge", () => {
    const session = createTestSession({}, { timeout: 20 });
    session.cookie.maxAge = null;
    expect(cookieMaxAgeOf(session, persistent)).toBeUndefined();
  });

  it("a session's own cookie.maxAge replaces the module's; undefined gives the module's back", () => {
    const session = createTestSession({}, { timeout: 20 });
    session.cookie.maxAge = 60_000;
    expect(cookieMaxAgeOf(session, persistent)).toBe(60_000);
    session.cookie.maxAge = undefined;
    expect(cookieMaxAgeOf(session, persistent)).toBe(10 * 60_000);
  });
});
