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
