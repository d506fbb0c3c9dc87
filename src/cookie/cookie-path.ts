/**
 * Whether a request's path is inside the cookie's `Path` (RFC 6265 5.1.4, "path-match"), as
 * fastify/session's `verifyPath`: the browser sends the cookie back only to such paths, so a session
 * started outside them would get a cookie that never comes back (and a record nobody reads).
 */
export function pathMatches(cookiePath: string, requestPath: string): boolean {
  if (!requestPath.startsWith(cookiePath)) return false;
  return requestPath.length === cookiePath.length || cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/**
 * The path of a request target (`/a/b?x=1` → `/a/b`), as RFC 6265 5.1.4 takes it for path-match:
 * an absolute-form target (`http://host/a`, through a forward proxy) by its path, anything else
 * without a leading `/` as `/`.
 */
export function requestPathOf(target: string | undefined): string {
  if (target === undefined) return '/';
  const query = target.indexOf('?');
  const path = query < 0 ? target : target.slice(0, query);
  if (path.startsWith('/')) return path;
  try {
    return new URL(target).pathname;
  } catch {
    return '/';
  }
}
