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
 * Perfect serialisation takes only the handlers' work; what is above it, over the requests − 1
 * hand-offs, is the cost of passing the lock from one request to the next (store round trips,
 * polling, HTTP). The probe app says when its handlers ran, which gives:
 * - `handoff`: the round's time (first request sent → last response read) minus the work the
 *   handlers actually did, per hand-off: what the client waits beyond the work (it includes one
 *   client round trip, the first request's way in and the last response's way out);
 * - `serverGap`: from one handler's end to the next one's start, measured in the app;
 * - `workOverrun`: how much longer than `workMs` a handler's wait took on average: a Node timer
 *   fires on a whole millisecond of the event loop's clock, so a 20 ms wait takes 20 to 21 ms.
 *   `handoffNominal` counts that overrun as hand-off (the figure of the bench's first version).
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
  const handoffNominal = (elapsed - requests * workMs) / (requests - 1);
  const runs = responses
    .map((r) => r.handler)
    .filter(Boolean)
    .sort((a, b) => a[0] - b[0]);
  if (runs.length !== requests) return { elapsed, handoff: handoffNominal, handoffNominal };
  const work = runs.reduce((sum, [start, end]) => sum + (end - start), 0);
  const gaps = runs.slice(1).map((run, i) => run[0] - runs[i][1]);
  return {
    elapsed,
    handoff: (elapsed - work) / (requests - 1),
    handoffNominal,
    serverGap: gaps.reduce((a, b) => a + b, 0) / gaps.length,
    workOverrun: work / requests - workMs,
  };
}
