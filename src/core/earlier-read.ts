/**
 * What a request found of its session before any of its own acquisitions: the mount's read, which
 * loads `req.session` before Nest routes the request (docs/PASSPORT.md). Kept on the request, not on
 * one exchange, so that every later acquisition of the same request sees it, whichever exchange makes
 * it: the route's guard, an app's global guard, a GraphQL request's server hooks.
 *
 * Why it matters: a login or logout of another request of the same browser may move or end the
 * session between that read and a later acquisition (passport's async `deserializeUser` runs there)
 * without the later one waiting for it. Finding the id absent then does not mean an unknown id, and
 * a new session, whose cookie would replace the login's, would sign the user out: the lifecycle
 * refuses instead, as it refuses a request that waited for the login.
 *
 * The lifecycle asks only when a read finds the cookie's id absent. The earlier reader itself (the
 * mount's binding) is what is kept, in the one property the mount sets on a request.
 */
export interface EarlierRead {
  /** The id under which the earlier read found the session stored; undefined when it found none. */
  readonly storedId: string | undefined;
  /**
   * Who read (the application's lifecycle): another application of the process that serves the same
   * request (an Express app mounted in another) has its own store and cookie, and its read says
   * nothing of this one's session.
   */
  readonly reader: object;
}

const EARLIER_READ = Symbol('nestjs-session-state:earlier-read');
type Carrier = { [EARLIER_READ]?: EarlierRead };

/** Keeps `read` on the request for the request's later acquisitions (see `storedEarlier`). */
export function keepEarlierRead(request: object, read: EarlierRead): void {
  (request as Carrier)[EARLIER_READ] = read;
}

/** The request's earlier read, if one was kept. */
export function earlierReadOf(request: object): EarlierRead | undefined {
  return (request as Carrier)[EARLIER_READ];
}

/** Whether an earlier read of the request (an exchange's key) by `reader` found its session stored under `id`. */
export function storedEarlier(request: object, id: string, reader: object): boolean {
  const read = earlierReadOf(request);
  return read !== undefined && read.reader === reader && read.storedId === id;
}
