/**
 * The errors of the module and its stores. They are plain errors so that a store can be used
 * without Nest's HTTP layer; the interceptor maps them to HTTP exceptions in one place
 * (`to-http-exception.ts`). Messages never contain a session id.
 */

/** Base class: lets callers catch everything this module throws. */
export class SessionStateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A fenced write failed: this request's lock was broken as stale (or the item is gone), so its
 * changes were not written rather than overwriting newer data.
 */
export class SessionStateLockLostError extends SessionStateError {}

/** The serialised session is larger than the store can hold; the stored session is unchanged. */
export class SessionStateTooLargeError extends SessionStateError {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(
      `Session state of ${size} bytes is larger than the store's limit of ${limit} bytes; ` +
        'the changes of this request were not saved and the stored session is unchanged.',
    );
  }
}

/**
 * A stored session cannot be read (undecodable items, unknown record format). When the read had
 * taken the session's lock, `lockId` holds it so that the caller can release it.
 */
export class SessionStateCorruptError extends SessionStateError {
  lockId: string | null = null;
}

/** The backing store could not be reached, or did not answer in time. */
export class SessionStateStoreUnavailableError extends SessionStateError {}

/** Too many requests of one session are already waiting for its lock. */
export class SessionStateQueueFullError extends SessionStateError {
  constructor(
    readonly limit: number,
    readonly retryAfterSeconds: number,
  ) {
    super(`Too many concurrent requests for one session (more than ${limit} waiting for its lock).`);
  }
}

/** The lock wait was given up: the request was aborted or the application is shutting down. */
export class SessionStateWaitAbortedError extends SessionStateError {}

/** A write to a session that the handler declared read-only (a programming error). */
export class SessionStateReadOnlyError extends SessionStateError {
  constructor() {
    super(
      'This session is read-only for this handler: use @SessionState(SessionStateBehavior.Required) ' +
        'on the handler (or its controller) to write to it.',
    );
  }
}

/**
 * A session value that JSON cannot hold faithfully (a Date, a BigInt, a Map, a class instance, a
 * cycle…), refused at `set()`: a programming error, hence a `TypeError` (as `JSON.stringify`'s).
 */
export class SessionStateValueError extends TypeError {
  constructor(
    message: string,
    /** The session key given to `set()`. */
    readonly key: string,
    /** Where in the value the offending part is (`''` for the value itself), e.g. `items[2].addedAt`. */
    readonly path: string,
  ) {
    super(message);
    this.name = 'SessionStateValueError';
  }
}
