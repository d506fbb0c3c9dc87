// Memory of N sessions in one in-memory store, in a process of its own (node --expose-gc):
//   node --expose-gc bench/memory-probe.mjs ours|peer [N]
// Each session is what POST /counter leaves: { count: 1 }, under a 32-character id (both libraries
// draw 24 random bytes). Ours: InMemorySessionStateStore (the lifecycle's own calls); peer:
// express-session's MemoryStore, given the session as express-session hands it over (with its cookie).
// Prints one JSON line: RSS and heap after, and bytes per session (heap + external growth / N).
import { randomBytes } from 'node:crypto';

const [kind, n = '100000'] = process.argv.slice(2);
const N = Number(n);
const settle = () => {
  globalThis.gc();
  globalThis.gc();
};
const id = () => randomBytes(24).toString('base64url');

let store;
let add;
if (kind === 'ours') {
  const { InMemorySessionStateStore } = await import('../dist/index.js');
  store = new InMemorySessionStateStore();
  add = (sid) => store.setAndReleaseItemExclusive(sid, { items: JSON.stringify({ count: 1 }), timeout: 20 }, null, true);
} else {
  const { default: session } = await import('express-session');
  store = new session.MemoryStore();
  add = (sid) =>
    new Promise((resolve, reject) =>
      store.set(sid, { cookie: { originalMaxAge: null, expires: null, httpOnly: true, path: '/' }, count: 1 }, (e) => (e ? reject(e) : resolve())),
    );
}
// Warm the code paths before the baseline, so only the sessions are counted.
for (let i = 0; i < 100; i++) await add(id());
settle();
const before = process.memoryUsage();
for (let i = 0; i < N; i++) await add(id());
settle();
const after = process.memoryUsage();
const rssGrowthMB = (after.rss - before.rss) / 2 ** 20;
const grown = after.heapUsed + after.external - (before.heapUsed + before.external);
console.log(
  JSON.stringify({ kind, sessions: N, rssMB: after.rss / 2 ** 20, rssGrowthMB, heapMB: after.heapUsed / 2 ** 20, bytesPerSession: grown / N }),
);
store.close?.();
