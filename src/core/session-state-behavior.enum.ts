/** How a handler uses the session (ASP.NET `SessionStateBehavior`). */
export enum SessionStateBehavior {
  /** Required when the handler takes `@Session()`, Disabled otherwise. */
  Default = 'default',
  /** Read-write: the request holds the session's exclusive lock from start to end. */
  Required = 'required',
  /** Read-only: no lock; waits for a writer holding it. Writes throw. */
  ReadOnly = 'readonly',
  /** No session: zero store calls, no cookie. */
  Disabled = 'disabled',
}

/** What a handler's behavior resolves to (never `Default`). */
export type ResolvedBehavior = SessionStateBehavior.Required | SessionStateBehavior.ReadOnly | SessionStateBehavior.Disabled;
/** The behaviors that load a session. */
export type ActiveBehavior = Exclude<ResolvedBehavior, SessionStateBehavior.Disabled>;
