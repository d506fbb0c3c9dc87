/**
 * Fails the suite on any unhandled promise rejection: one of them would crash a production process
 * (Node's default), taking every other request down with it. Rejections are collected process-wide
 * and reported by the test (or file) during which they happened.
 */
const KEY = Symbol.for('nestjs-session-state:unhandled-rejections');
const state = globalThis as { [KEY]?: unknown[] };
if (!state[KEY]) {
  const seen: unknown[] = (state[KEY] = []);
  process.on('unhandledRejection', (reason) => seen.push(reason));
}
const seen = state[KEY]!;

function assertNone(): void {
  if (seen.length === 0) return;
  const reasons = seen.splice(0).map((r) => (r instanceof Error ? (r.stack ?? r.message) : String(r)));
  throw new Error(`Unhandled promise rejection(s):\n${reasons.join('\n')}`);
}

afterEach(assertNone);
afterAll(assertNone);
