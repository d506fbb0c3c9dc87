import {
  SessionStateCorruptError,
  SessionStateEndedError,
  SessionStateEndedWhileWaitingError,
  SessionStateError,
  SessionStateLockLostError,
  SessionStateOwnerCapError,
  SessionStateQueueFullError,
  SessionStateReadOnlyError,
  SessionStateStoreMisconfiguredError,
  SessionStateStoreUnavailableError,
  SessionStateTooLargeError,
  SessionStateUnsupportedContextError,
  SessionStateValueError,
  SessionStateWaitAbortedError,
} from './session-state.errors.js';
import { isStoreError } from './store-error-origin.js';

/*
 * The one answer to "what does this error mean to a client, to the metrics and to the log". Each
 * transport renders an entry its own way (transports/http, ws, graphql); the observer counts its
 * rejection, the measured store logs its store failure. A client's message is the catalog's, never
 * a store's text (which can name a table, carry AWS error text or a session id).
 */

/** `reason` of `session_state.request.rejected`. */
export type RejectionReason =
  'queue_full' | 'shutdown' | 'aborted' | 'store_unavailable' | 'store_misconfigured' | 'too_large' | 'lock_lost' | 'session_ended' | 'owner_cap';
/** The kind of a store failure in the failure log: `configuration` needs a fix, `outage` passes. */
export type StoreFailureClass = 'configuration' | 'outage' | 'too_large' | 'corrupt' | 'error';
/** `session_state.outcome` of a failed store call. */
export type StoreFailureOutcome = 'condition_failed' | 'unavailable' | 'too_large' | 'corrupt';

/** The answer to a store failure the module cannot name. */
export const STORE_FAILED_MESSAGE = 'Session state failed; the changes of this request were not saved.';
export const UNAVAILABLE_MESSAGE = 'Session state is unavailable; try again.';
export const QUEUE_FULL_MESSAGE = 'Too many concurrent requests for one session; try again later.';
export const TOO_LARGE_MESSAGE =
  "The session state is larger than the store's limit; the changes of this request were not saved and the stored session is unchanged.";
/**
 * A GraphQL batch's last answer, itself without errors, when another operation of the batch failed:
 * its data stays, and this error says the session changes of the whole batch were discarded.
 */
export const BATCH_NOT_SAVED_MESSAGE = 'Another operation of this batch failed: the session changes of the whole batch were not saved.';
/**
 * A GraphQL request that holds no lock (none of its operations uses the session, or only to read), in
 * which a resolver or its guard removed something through `req.session` (@fastify/passport's `logOut()`
 * in a mutation not declared `Required`): the removal is this request's only, and its last answer says so
 * rather than read as done.
 */
export const REMOVAL_NOT_SAVED_MESSAGE =
  'req.session was changed (a logout, a key removed) in a GraphQL operation that holds no session lock: the change was not saved. ' +
  'Declare the resolver @SessionState(SessionStateBehavior.Required).';
/** The GraphQL error code of both: an answer whose data stays, with session changes that were not saved. */
export const NOT_SAVED_CODE = 'SESSION_STATE_NOT_SAVED';
export const LOCK_LOST_MESSAGE =
  'The session lock was lost (broken as stale, or the session was removed); the changes of this request were not saved.';

export interface SessionErrorEntry {
  /**
   * `refusal`: the session layer refuses the request (a 4xx/503 any client may get);
   * `store_failure`: the store failed in a way the module cannot name (500);
   * `programming`: a mistake of the application, told to its developer (passes through on HTTP);
   * `unknown`: not the module's: passes through unchanged, to the application's exception filters.
   */
  readonly kind: 'refusal' | 'store_failure' | 'programming' | 'unknown';
  /** The HTTP status the client gets; absent: the module does not answer it (the error passes through). */
  readonly status?: number;
  /** The message a client may see: the catalog's, or a text the module wrote (never a store's); absent for `unknown`. */
  readonly message?: string;
  /** The error's name as a WebSocket client sees it (`error` of the `exception` event). */
  readonly name: string;
  /** `Retry-After`, in seconds. */
  readonly retryAfterSeconds?: number;
  /** Counted in `session_state.request.rejected` with this reason (when it refuses a request). */
  readonly rejection?: RejectionReason;
  /** Logged by the store failure log in this kind (when a store call threw it); null: not a failure (a lost lock is a conflict). */
  readonly storeFailure: StoreFailureClass | null;
  /** The outcome of the failed store call, for `session_state.store.operation.duration`. */
  readonly storeOutcome: StoreFailureOutcome;
}

type Row = Omit<SessionErrorEntry, 'name' | 'retryAfterSeconds'> & {
  readonly class: abstract new (...args: never[]) => Error;
  /** The error's own message when the module threw it (its texts are the module's); a store's never. */
  readonly moduleMessage?: boolean;
};

const refusal = { kind: 'refusal' } as const;
const programming = { kind: 'programming', storeFailure: 'error', storeOutcome: 'unavailable', moduleMessage: true } as const;

/** Most specific class first (a subclass before its base). docs/ERRORS.md says the same (test/errors-doc.spec.ts). */
const ROWS: readonly Row[] = [
  {
    class: SessionStateQueueFullError,
    ...refusal,
    status: 503,
    message: QUEUE_FULL_MESSAGE,
    rejection: 'queue_full',
    storeFailure: 'error',
    storeOutcome: 'unavailable',
  },
  {
    class: SessionStateWaitAbortedError,
    ...refusal,
    status: 503,
    message: UNAVAILABLE_MESSAGE,
    rejection: 'aborted',
    storeFailure: 'error',
    storeOutcome: 'unavailable',
  },
  {
    class: SessionStateStoreMisconfiguredError,
    ...refusal,
    status: 503,
    message: UNAVAILABLE_MESSAGE,
    rejection: 'store_misconfigured',
    storeFailure: 'configuration',
    storeOutcome: 'unavailable',
  },
  {
    class: SessionStateStoreUnavailableError,
    ...refusal,
    status: 503,
    message: UNAVAILABLE_MESSAGE,
    rejection: 'store_unavailable',
    storeFailure: 'outage',
    storeOutcome: 'unavailable',
  },
  {
    class: SessionStateTooLargeError,
    ...refusal,
    status: 413,
    message: TOO_LARGE_MESSAGE,
    rejection: 'too_large',
    storeFailure: 'too_large',
    storeOutcome: 'too_large',
  },
  {
    class: SessionStateEndedError,
    ...refusal,
    status: 410,
    message: new SessionStateEndedError().message,
    rejection: 'session_ended',
    storeFailure: null,
    storeOutcome: 'condition_failed',
  },
  {
    class: SessionStateEndedWhileWaitingError,
    ...refusal,
    status: 409,
    message: new SessionStateEndedWhileWaitingError().message,
    rejection: 'lock_lost',
    storeFailure: null,
    storeOutcome: 'condition_failed',
  },
  {
    class: SessionStateLockLostError,
    ...refusal,
    status: 409,
    message: LOCK_LOST_MESSAGE,
    moduleMessage: true,
    rejection: 'lock_lost',
    storeFailure: null,
    storeOutcome: 'condition_failed',
  },
  {
    class: SessionStateOwnerCapError,
    ...refusal,
    status: 409,
    // Its own text: the module's, with the cap, and no owner in it.
    message: 'Signed in on too many devices. Sign out of another session first.',
    moduleMessage: true,
    rejection: 'owner_cap',
    storeFailure: null,
    storeOutcome: 'condition_failed',
  },
  {
    class: SessionStateCorruptError,
    kind: 'store_failure',
    status: 500,
    message: STORE_FAILED_MESSAGE,
    storeFailure: 'corrupt',
    storeOutcome: 'corrupt',
  },
  { class: SessionStateReadOnlyError, ...programming },
  { class: SessionStateUnsupportedContextError, ...programming },
  { class: SessionStateValueError, ...programming },
  // Thrown by the module for a mistake of the application (`@Session()` where no session is), or by a store.
  { class: SessionStateError, ...programming },
];

/** Any error a store threw that the catalog has no class for (a custom store's own, a store's `SessionStateError`). */
const STORE_FAILURE: SessionErrorEntry = {
  kind: 'store_failure',
  status: 500,
  message: STORE_FAILED_MESSAGE,
  name: 'SessionStateError',
  storeFailure: 'error',
  storeOutcome: 'unavailable',
};

const UNKNOWN: SessionErrorEntry = { kind: 'unknown', name: 'Error', storeFailure: 'error', storeOutcome: 'unavailable' };

/**
 * The catalog entry of `error`. `closing`: the application is shutting down (an aborted wait is then
 * counted as `shutdown`).
 */
export function sessionErrorOf(error: unknown, closing = false): SessionErrorEntry {
  const row = error instanceof Error ? ROWS.find((r) => error instanceof r.class) : undefined;
  const fromStore = isStoreError(error);
  if (!row || (fromStore && row.kind === 'programming')) return fromStore ? STORE_FAILURE : UNKNOWN;
  const { class: type, moduleMessage, ...entry } = row;
  return {
    ...entry,
    name: (error as Error).name || type.name,
    message: moduleMessage && !fromStore ? (error as Error).message : entry.message,
    // The error says when a retry makes sense: a full queue, a conflict whose other side has finished.
    retryAfterSeconds:
      error instanceof SessionStateQueueFullError || error instanceof SessionStateLockLostError ? error.retryAfterSeconds : undefined,
    rejection: entry.rejection === 'aborted' && closing ? 'shutdown' : entry.rejection,
  };
}
