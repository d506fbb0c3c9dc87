// The load generator: autocannon, in the bench's own process (the apps run in theirs), keep-alive,
// one connection per virtual user and one session (cookie) per connection.
import autocannon from 'autocannon';

/** Makes `count` sessions on an app (one POST /counter each) and returns their cookies. */
export async function makeSessions(base, count) {
  const cookies = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${base}/counter`, { method: 'POST' });
    await response.arrayBuffer();
    const setCookie = response.headers.get('set-cookie');
    if (!response.ok || !setCookie) throw new Error(`${base}: POST /counter gave ${response.status} and no cookie`);
    cookies.push(setCookie.split(';')[0]);
  }
  return cookies;
}

/**
 * Drives `method path` for `seconds`: one keep-alive connection per cookie, each always sending its
 * own cookie (each virtual user keeps its session). One autocannon instance per user, so that each
 * request is a buffer built once: a `setupRequest` would rebuild every request (and, with a single
 * request in the list, autocannon resets its context per request, so users would rotate cookies).
 * No cookie for `GET /ping`-like runs when `cookies` is empty: `connections` users then.
 */
export async function drive({ base, method, path, cookies, connections = cookies.length, seconds }) {
  const users = cookies.length > 0 ? cookies.map((cookie) => ({ cookie, connections: 1 })) : [{ cookie: undefined, connections }];
  const results = await Promise.all(
    users.map(
      ({ cookie, connections }) =>
        new Promise((resolve, reject) =>
          autocannon(
            {
              url: base,
              connections,
              duration: seconds,
              pipelining: 1,
              skipAggregateResult: true, // aggregated below, latencies of all users together
              requests: [{ method, path, ...(cookie && { headers: { cookie } }) }],
            },
            (error, result) => (error ? reject(error) : resolve(result)),
          ),
        ),
    ),
  );
  const total = results.reduce((sum, r) => sum + r.totalCompletedRequests, 0);
  const failed = results.reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0);
  if (failed > 0) throw new Error(`${method} ${base}${path}: ${failed} failed of ${total}`);
  const { latency } = autocannon.aggregateResult(results, { url: base, connections: users.length });
  // Each user's rate over its own run (autocannon stops on its 1 s tick, so runs end up to a second apart).
  const rps = results.reduce((sum, r) => sum + r.totalCompletedRequests / r.duration, 0);
  return { rps, p50: latency.p50, p99: latency.p99, total };
}
