/** Metadata key of `@SessionState()`. */
export const SESSION_STATE_BEHAVIOR_METADATA = 'nestjs-session-state:behavior';
/** Metadata key set on a handler by `@Session()`: the handler uses the session. */
export const SESSION_PARAM_METADATA = 'nestjs-session-state:session-param';
/** Metadata key set on a handler by `@Session()`: the indexes of the arguments it fills. */
export const SESSION_PARAM_INDEXES_METADATA = 'nestjs-session-state:session-param-indexes';
/** Injection token of the validated, defaulted module options. */
export const SESSION_STATE_OPTIONS = Symbol('SESSION_STATE_OPTIONS');
/** Where a request's session lease is kept on the request object. */
export const SESSION_LEASE = Symbol('nestjs-session-state:lease');
/** Where the acquisition of a request's session (shared by a guard and the interceptor) is kept on the request. */
export const SESSION_ACQUISITION = Symbol('nestjs-session-state:acquisition');
/** Injection token of the configured store as the module uses it: measured and failure-logged. */
export const OBSERVED_SESSION_STATE_STORE = Symbol('nestjs-session-state:observed-store');
