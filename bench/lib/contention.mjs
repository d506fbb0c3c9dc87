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
 * `requests` concurrent POST /counter/work?delayMs=`workMs` on one session, sent alternately to `bases`.
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
      fetch(`${bases[i % bases.length]}/counter/work?delayMs=${workMs}`, { method: 'POST', headers: { cookie } }).then((r) => r.json()),
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

/**
 * The hand-off across instances: each of `bases` sends `perInstance` POST /counter/work?delayMs=`workMs`
 * on one session, one after another (its next when its previous answered), all instances at once.
 * While one instance's request works, the other's waits at the store, so the lock alternates
 * between instances. From the handlers' times (one clock: the instances run on this machine):
 * `crossGap`, the median gap from one handler's end to the next one's start when the next ran on
 * the other instance (the holder's save and release, the waiter's wake-up or poll, its lock, and
 * both requests' Nest work), and how many of the hand-offs were across instances.
 */
export async function alternatingRound(bases, perInstance, workMs) {
  const cookie = await freshSession(bases[0]);
  const runs = [];
  await Promise.all(
    bases.map(async (base, instance) => {
      for (let i = 0; i < perInstance; i++) {
        const response = await fetch(`${base}/counter/work?delayMs=${workMs}`, { method: 'POST', headers: { cookie } });
        const body = await response.json();
        if (!response.ok || !body.handler) throw new Error(`${base}: ${response.status} ${JSON.stringify(body)}`);
        runs.push({ instance, count: body.count, start: body.handler[0], end: body.handler[1] });
      }
    }),
  );
  runs.sort((a, b) => a.start - b.start);
  const counts = runs.map((r) => r.count);
  if (counts.some((c, i) => c !== i + 2)) throw new Error(`lost updates in the alternating hand-off: ${JSON.stringify(counts)}`);
  const gaps = runs.slice(1).map((run, i) => ({ cross: run.instance !== runs[i].instance, gap: run.start - runs[i].end }));
  const cross = gaps.filter((g) => g.cross).map((g) => g.gap);
  const sorted = [...cross].sort((a, b) => a - b);
  return { handoffs: gaps.length, crossHandoffs: cross.length, crossGap: sorted[Math.floor(sorted.length / 2)], crossGaps: cross };
}
