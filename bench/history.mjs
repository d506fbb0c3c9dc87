// The throughput ratios of every `npm run bench` committed since a commit, pooled per row: one run's 7
// rounds leave an interval of about ±0.15 around its median, so a goal near the median stays undecided;
// the rounds of several runs (of builds that did not change the request path) narrow it.
//   node bench/history.mjs [since-commit] [request...]   (default: every committed run; POST and GET /counter)
// Reads bench/results/latest.json as each commit that changed it left it (git), prints a Markdown table:
// per row, the runs, each run's median, the pooled median of all their rounds, its interval and the verdict
// against the goal (issue 17: 1.1× in memory; issue 19: 1.0× on Redis).
import { execFileSync } from 'node:child_process';
import { median, medianInterval, verdict } from './lib/stats.mjs';

const [since, ...requests] = process.argv.slice(2);
const wanted = new Set(requests.length > 0 ? requests : ['POST /counter', 'GET /counter']);
const FILE = 'bench/results/latest.json';
const git = (...args) => execFileSync('git', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
const commits = git('log', '--format=%h %cI', ...(since ? [`${since}..HEAD`] : []), '--', FILE)
  .trim()
  .split('\n')
  .filter(Boolean)
  .map((line) => line.split(' '))
  .reverse();
const rows = new Map();
for (const [commit, date] of commits) {
  const results = JSON.parse(git('show', `${commit}:${FILE}`));
  for (const t of results.throughput ?? []) {
    if (!wanted.has(t.request) || !(t.roundRatios?.length > 1) || (t.store !== 'memory' && t.store !== 'redis')) continue;
    const key = `${t.store}|${t.shape ?? 'bare'}|${t.binding ?? 'interceptor'}|${t.request}`;
    const row = rows.get(key) ?? { t, runs: [] };
    row.runs.push({ commit, date, ratio: t.ratio, rounds: t.roundRatios });
    rows.set(key, row);
  }
}
const name = ({ store, shape = 'bare', binding }) =>
  `${store === 'memory' ? 'in memory' : 'Redis'}${shape === 'bare' ? '' : ', one global interceptor'}${binding === 'guard' ? ', guard binding' : ''}`;
console.log(`Runs: ${commits.map(([c, d]) => `${c} (${d.slice(0, 16).replace('T', ' ')})`).join(', ')}\n`);
console.log("| app | request | runs | each run's median | pooled median | interval | goal | reached |");
console.log('|---|---|---:|---|---:|---:|---:|---|');
for (const { t, runs } of rows.values()) {
  const all = runs.flatMap((r) => r.rounds);
  const [lo, hi, coverage] = medianInterval(all);
  const goal = t.store === 'memory' ? 1.1 : 1.0;
  console.log(
    `| ${name(t)} | \`${t.request}\` | ${runs.length} | ${runs.map((r) => r.ratio.toFixed(2)).join(', ')} | **${median(all).toFixed(2)}×** | ` +
      `${lo.toFixed(2)}–${hi.toFixed(2)} (${(100 * coverage).toFixed(0)} %) | ${goal.toFixed(1)}× | ${verdict([lo, hi], goal)} |`,
  );
}
