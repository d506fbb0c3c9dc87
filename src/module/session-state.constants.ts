/** Metadata key of `@SessionState()`. */
export const SESSION_STATE_BEHAVIOR_METADATA = 'nestjs-session-state:behavior';
/** Metadata key set on a handler by `@Session()`: the indexes of the arguments it fills (the handler uses the session). */
export const SESSION_PARAM_METADATA = 'nestjs-session-state:session-param';
/** Injection token of the validated, defaulted module options. */
export const SESSION_STATE_OPTIONS = Symbol('SESSION_STATE_OPTIONS');
/** Injection token of the configured store as the module uses it: measured and failure-logged. */
export const OBSERVED_SESSION_STATE_STORE = Symbol('nestjs-session-state:observed-store');
