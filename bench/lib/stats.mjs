// How far a median of per-round ratios can be trusted: a distribution-free interval for the median
// (two order statistics of the rounds, chosen by the binomial distribution), and a goal's verdict
// from it. On this shared machine one round's ratio moves by ±0.15: a median alone cannot tell
// 1.00× from 1.10×, the interval says when the rounds can.

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

/** P(X ≤ k) for X ~ Binomial(n, 1/2). */
function binomialAtMost(n, k) {
  let term = 0.5 ** n; // P(X = 0)
  let sum = 0;
  for (let i = 0; i <= k; i++) {
    sum += term;
    term = (term * (n - i)) / (i + 1);
  }
  return sum;
}

/**
 * [lo, hi, coverage]: the k-th smallest and k-th largest of `xs`, with the largest k whose interval
 * holds the true median with probability ≥ `level` (rounds independent, as interleaved rounds are
 * meant to be). 7 rounds: the 2nd and the 6th, 87.5 %. Fewer than 5 rounds: the extremes.
 */
export function medianInterval(xs, level = 0.85) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  let k = 1;
  while (k + 1 <= n / 2 && 1 - 2 * binomialAtMost(n, k) >= level) k++;
  return [s[k - 1], s[n - k], 1 - 2 * binomialAtMost(n, k - 1)];
}

/** A throughput row's interval for its median ratio, from its per-round ratios (runs that kept them). */
export const ratioInterval = (row) => (row.roundRatios?.length > 1 ? medianInterval(row.roundRatios) : undefined);

/** A goal `ratio ≥ goal` judged on an interval: reached, missed, or undecided when the interval holds the goal. */
export function verdict([lo, hi], goal) {
  if (lo >= goal) return 'yes';
  if (hi < goal) return '**no**';
  return 'undecided';
}
