// What a request waiting for a lock held by another instance costs, computed from the coordinator's
// schedule (exponential backoff from pollMinMs to pollMaxMs, equal jitter: each pause is uniform in
// [ceiling/2, ceiling]), averaged over many simulated waits. Store round-trip time is left out (it
// only spaces the polls further). Prices: on-demand, us-east-1 (see the cost section).
const PRICE = { wcu: 0.625e-6, rcu: 0.125e-6 };

function pollsWithin(ms, pollMinMs, pollMaxMs) {
  let t = 0;
  let polls = 0;
  for (let attempt = 0; ; attempt++) {
    const ceiling = Math.min(pollMaxMs, pollMinMs * 2 ** Math.min(attempt, 20));
    t += ceiling / 2 + Math.random() * (ceiling / 2);
    if (t > ms) return polls;
    polls++;
  }
}

const mean = (f, n = 2000) => {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += f();
  return sum / n;
};

/** Polls in the first second of a wait, and per second from then on (waits of 10 s). */
export function pollingCost({ pollMinMs, pollMaxMs, pollUnit }) {
  const first = mean(() => pollsWithin(1000, pollMinMs, pollMaxMs));
  const steady = (mean(() => pollsWithin(10_000, pollMinMs, pollMaxMs), 500) - first) / 9;
  const price = pollUnit === 'WCU' ? PRICE.wcu : PRICE.rcu;
  return {
    pollMinMs,
    pollMaxMs,
    pollUnit,
    firstSecond: first,
    perSecondAfter: steady,
    usdPerMillionFirstSecond: first * price * 1e6,
    usdPerMillionSecondsAfter: steady * price * 1e6,
  };
}
