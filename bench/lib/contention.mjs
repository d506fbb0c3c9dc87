// Concurrency on ONE session: lost updates, and the lock hand-off.

/** A fresh session on `base`: its cookie. */
async function freshSession(base) {
  const response = await fetch(`${base}/counter`, { method: 'POST' });
  await response.arrayBuffer();
  return response.headers.get('set-cookie').split(';')[0];
}

async function count(base, cookie) {
  const response = await fetch(`${base}/counter`, { headers: { cookie } });
  return (await response.json()).count;
}

/**
 * `concurrent` POST /counter at once on one session (count 1 before): how many increments the
 * session lost (`concurrent + 1 − final count`).
 */
export async function lostUpdates(base, concurrent = 50) {
  const cookie = await freshSession(base);
  await Promise.all(
    Array.from({ length: concurrent }, () => fetch(`${base}/counter`, { method: 'POST', headers: { cookie } }).then((r) => r.arrayBuffer())),
  );
  return concurrent + 1 - (await count(base, cookie));
}

/**
 * `requests` concurrent POST /counter?delayMs=`workMs` on one session, sent alternately to `bases`.
 * Perfect serialisation takes requests × workMs; what is above that, over the requests − 1 hand-offs,
 * is the cost of passing the lock from one request to the next (store round trips, polling, HTTP).
 */
export async function handoffRound(bases, requests, workMs) {
  const cookie = await freshSession(bases[0]);
  const started = performance.now();
  const responses = await Promise.all(
    Array.from({ length: requests }, (_, i) =>
      fetch(`${bases[i % bases.length]}/counter?delayMs=${workMs}`, { method: 'POST', headers: { cookie } }).then((r) => r.json()),
    ),
  );
  const elapsed = performance.now() - started;
  const counts = responses.map((r) => r.count).sort((a, b) => a - b);
  if (counts.at(-1) !== requests + 1 || new Set(counts).size !== requests) throw new Error(`lost updates in hand-off: ${JSON.stringify(counts)}`);
  // Where the app says when its handlers ran (the probe app does): the gaps between one handler's
  // end and the next one's start, i.e. the hand-off without the client's share or the timers' lateness.
  const runs = responses.map((r) => r.handler).filter(Boolean).sort((a, b) => a[0] - b[0]);
  const gaps = runs.slice(1).map((run, i) => run[0] - runs[i][1]);
  const serverGap = gaps.length === requests - 1 ? gaps.reduce((a, b) => a + b, 0) / gaps.length : undefined;
  return { elapsed, handoff: (elapsed - requests * workMs) / (requests - 1), serverGap };
}
