/**
 * `recordClient`: what a session keeps of the client it was created from. Not the whole user agent
 * (long, a fingerprint): a summary a person recognises in a list of their sessions, "Firefox 128 on
 * Linux", and the address. Stored as a small JSON string (`SessionStateStoreData.client`).
 */
export interface SessionClient {
  /** A short summary of the user agent ("Chrome 126 on macOS"), or undefined when none was sent. */
  readonly userAgent?: string;
  /** The client address as the platform reported it (trust-proxy settings apply). */
  readonly address?: string;
}

/** Longest summary and address kept: the record stays small whatever a client sends. */
const MAX_SUMMARY = 64;
const MAX_ADDRESS = 64;
/**
 * Only this much of a user agent is read (real ones stay under 300 characters; Node allows 16 KB of
 * headers): the patterns' work per request stays small whatever a client sends (review R25: Safari's
 * pattern backtracked quadratically on "Version/" and 16 000 digits, 0.2 s per request).
 */
const MAX_USER_AGENT_READ = 512;

/** Browsers by the token that names them, most specific first (Edge and Opera also say Chrome, Chrome also says Safari). */
const BROWSERS: readonly [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\/(\d{1,6})/, 'Edge'],
  [/\bOPR\/(\d{1,6})/, 'Opera'],
  [/\bSamsungBrowser\/(\d{1,6})/, 'Samsung Internet'],
  [/\bFirefox\/(\d{1,6})/, 'Firefox'],
  [/\bFxiOS\/(\d{1,6})/, 'Firefox'],
  [/\bCriOS\/(\d{1,6})/, 'Chrome'],
  // Headless Chrome (puppeteer, a scraper) says "HeadlessChrome/…": no word boundary before "Chrom" there.
  [/\bHeadlessChrome\/(\d{1,6})/, 'Headless Chrome'],
  [/\bChrom(?:e|ium)\/(\d{1,6})/, 'Chrome'],
  [/\bVersion\/(\d{1,6})[^ ]{0,32} (?:Mobile\/\S{1,64} )?Safari\//, 'Safari'],
];

const SYSTEMS: readonly [RegExp, string][] = [
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

/** "Firefox 128 on Linux", or the first product token ("curl/8.5.0") of a user agent that is not a known browser. */
export function summarizeUserAgent(userAgent: string): string {
  const read = userAgent.slice(0, MAX_USER_AGENT_READ);
  const system = SYSTEMS.find(([pattern]) => pattern.test(read))?.[1];
  for (const [pattern, name] of BROWSERS) {
    const match = pattern.exec(read);
    if (match) return system ? `${name} ${match[1]} on ${system}` : `${name} ${match[1]}`;
  }
  return printable(read.split(' ')[0] ?? '', MAX_SUMMARY);
}

/** The stored form of a session's client, or undefined when nothing is known of it. */
export function clientSummaryOf(info: { readonly userAgent?: string; readonly address?: string } | undefined): string | undefined {
  if (!info) return undefined;
  const userAgent = typeof info.userAgent === 'string' && info.userAgent !== '' ? summarizeUserAgent(info.userAgent) : undefined;
  const address = typeof info.address === 'string' && info.address !== '' ? printable(info.address, MAX_ADDRESS) : undefined;
  if (!userAgent && !address) return undefined;
  return JSON.stringify({ ...(userAgent ? { ua: userAgent } : {}), ...(address ? { ip: address } : {}) });
}

/** The stored form read back; anything unreadable (a record written by hand) reads as unknown. */
export function parseClientSummary(stored: string | undefined): SessionClient | undefined {
  if (stored === undefined) return undefined;
  try {
    const value = JSON.parse(stored) as { ua?: unknown; ip?: unknown };
    const userAgent = typeof value.ua === 'string' ? value.ua : undefined;
    const address = typeof value.ip === 'string' ? value.ip : undefined;
    return userAgent || address ? { ...(userAgent ? { userAgent } : {}), ...(address ? { address } : {}) } : undefined;
  } catch {
    return undefined;
  }
}

/** Printable ASCII only (what a client sends is shown to a person), at most `max` characters. */
function printable(text: string, max: number): string {
  return text.replace(/[^\x20-\x7e]/g, '').slice(0, max);
}
