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
 * Drives `method path` for `seconds` with one connection per cookie (each virtual user keeps its
 * session). No cookie for `GET /ping`-like runs when `cookies` is empty: `connections` users then.
 */
export function drive({ base, method, path, cookies, connections = cookies.length, seconds }) {
  let next = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: base,
        connections,
        duration: seconds,
        pipelining: 1,
        requests: [
          {
            method,
            path,
            setupRequest: (request, context) => {
              if (cookies.length === 0) return request;
              context.cookie ??= cookies[next++ % cookies.length];
              return { ...request, headers: { ...request.headers, cookie: context.cookie } };
            },
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        const failed = result.non2xx + result.errors + result.timeouts;
        if (failed > 0) return reject(new Error(`${method} ${base}${path}: ${failed} failed of ${result.requests.total}`));
        resolve({ rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, total: result.requests.total });
      },
    );
  });
}
