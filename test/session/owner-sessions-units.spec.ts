import { clientSummaryOf, parseClientSummary, summarizeUserAgent } from '../../src/session/client-summary.js';
import { isWellFormedSessionHandle, sessionHandleOf } from '../../src/session/session-handle.js';
import { generateSessionId, isWellFormedSessionId, redactSessionId } from '../../src/session/session-id.js';

describe('summarizeUserAgent', () => {
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0', 'Firefox 128 on Linux'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36', 'Chrome 126 on Windows'],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87',
      'Edge 126 on Windows',
    ],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Safari 17 on macOS'],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      'Safari 17 on iOS',
    ],
    [
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36',
      'Chrome 126 on Android',
    ],
    // Debian's chromium 156 in headless mode (`chromium --headless --dump-dom` of a page writing navigator.userAgent).
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36', 'Headless Chrome 156 on Linux'],
    ['curl/8.5.0', 'curl/8.5.0'],
    ['my-cli/1.2 (+https://example.com)', 'my-cli/1.2'],
  ])('%s → %s', (userAgent, summary) => {
    expect(summarizeUserAgent(userAgent)).toBe(summary);
  });

  it("keeps a known browser's summary short too, whatever version it claims", () => {
    expect(summarizeUserAgent(`Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/${'9'.repeat(12_000)}`)).toBe('Firefox 999999 on Linux');
    expect(summarizeUserAgent(`Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Version/${'1'.repeat(16_000)} Safari/605.1.15`)).toBe('Mozilla/5.0');
    expect(clientSummaryOf({ userAgent: `Chrome/${'1'.repeat(12_000)}`, address: '203.0.113.7' })).toBe('{"ua":"Chrome 111111","ip":"203.0.113.7"}');
  });

  it('reads only the first 512 characters of a user agent (a 16 KB header costs the patterns no more than a real one)', () => {
    const padding = `Mozilla/5.0 (X11; Linux x86_64) ${'a'.repeat(512)}`;
    expect(summarizeUserAgent(`${padding} Firefox/128.0`)).toBe('Mozilla/5.0');
    expect(summarizeUserAgent(`Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0 ${'a'.repeat(16_000)}`)).toBe('Firefox 128 on Linux');
  });

  it('keeps what a client sends short and printable', () => {
    expect(summarizeUserAgent(`${'x'.repeat(500)}\u0000\u202e`)).toBe('x'.repeat(64));
  });
});

describe('the stored client', () => {
  it('round-trips, and reads back anything unreadable as unknown', () => {
    const stored = clientSummaryOf({ userAgent: 'curl/8.5.0', address: '203.0.113.7' })!;
    expect(parseClientSummary(stored)).toEqual({ userAgent: 'curl/8.5.0', address: '203.0.113.7' });
    expect(clientSummaryOf({})).toBeUndefined();
    expect(clientSummaryOf(undefined)).toBeUndefined();
    expect(parseClientSummary(clientSummaryOf({ address: '::1' }))).toEqual({ address: '::1' });
    for (const bad of ['', 'not json', '[]', '{"ua":5}', 'null']) expect(parseClientSummary(bad)).toBeUndefined();
  });
});

describe('session handles', () => {
  it('are one-way, 22 characters, stable, distinct per id, never an id nor its log redaction', () => {
    const id = generateSessionId();
    const handle = sessionHandleOf(id);
    expect(isWellFormedSessionHandle(handle)).toBe(true);
    expect(handle).toBe(sessionHandleOf(id));
    expect(handle).not.toBe(sessionHandleOf(generateSessionId()));
    expect(isWellFormedSessionId(handle)).toBe(false); // never taken for an id (a cookie)
    expect(id).not.toContain(handle);
    expect(redactSessionId(id)).not.toContain(handle.slice(0, 10));
    for (const bad of [undefined, 5, '', 'x'.repeat(21), 'x'.repeat(23), `${'x'.repeat(21)}!`]) expect(isWellFormedSessionHandle(bad)).toBe(false);
  });
});
