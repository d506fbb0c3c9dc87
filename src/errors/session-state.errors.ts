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
 * Why a store refused a fenced write:
 * - `lock_mismatch`: the session exists, but the lock id given no longer holds its lock (broken as
 *   stale and perhaps taken by another request, already released, or never held);
 * - `item_gone`: no live session under the id (removed, revoked, or expired);
 * - `item_exists`: a new session was to be created, but a live one already has that id.
 */
export type SessionStateLockLostReason = 'lock_mismatch' | 'item_gone' | 'item_exists';

/**
 * A fenced write failed: this request's lock was broken as stale (or the item is gone), so its
 * changes were not written rather than overwriting newer data. `reason` says which.
 */
export class SessionStateLockLostError extends SessionStateError {
  constructor(
    message: string,
    readonly reason: SessionStateLockLostReason,
    /**
     * `Retry-After` (seconds), when a retry is expected to succeed: the mount refusing a middleware's
     * change computed from data another request has since changed (`lockWait.retryAfterSeconds`).
     */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/**
 * The session this request waited for was moved (`regenerateId()` at login) or ended (`abandon()`)
 * by the request that held it. The request is not run and gets no new session: a new one would
 * replace the cookie that the holder just sent (logging the user out), and the moved data must
 * never be reached through the old id. Also the answer to a read-write request that comes with the
 * old cookie after a login finished (sent before the login's answer reached the browser), while the
 * store keeps the moved session's marker (`SessionStateAbsent.moved`).
 */
export class SessionStateEndedWhileWaitingError extends SessionStateLockLostError {
  /** `retryAfterSeconds`: the `Retry-After` its message asks for (the module's `lockWait.retryAfterSeconds`); the holder has finished, so a retry with the cookie it sent gets through. */
  constructor(retryAfterSeconds?: number) {
    super(
      'The session was moved or ended (a login or logout) while this request was under way; the request was not run. Retry it with the cookie that login or logout sent (over a WebSocket: reconnect).',
      'item_gone',
      retryAfterSeconds,
    );
  }
}

/**
 * A sign-in refused by `maxSessionsPerOwner` with `ownerCapPolicy: 'refuse'`: the owner already has
 * `limit` live sessions. Nothing of the request was saved (the session stays as it was, without the
 * owner); the app can catch it (an exception filter) and tell the user to sign out elsewhere first.
 */
export class SessionStateOwnerCapError extends SessionStateError {
  constructor(readonly limit: number) {
    super(`Signed in on too many devices: at most ${limit} session${limit === 1 ? '' : 's'} at once. Sign out of another session first.`);
  }
}

/**
 * A WebSocket message whose connection's session has ended since the handshake (signed out from
 * another device, revoked, abandoned, expired, past its absolute lifetime): a message cannot set a
 * cookie, so it cannot start another session; it is refused, not run with an empty one. The gateway
 * can tell (`error` of the `exception` event: `SessionStateEndedError`): the client signs in again
 * over HTTP and reconnects.
 */
export class SessionStateEndedError extends SessionStateError {
  constructor() {
    super(
      'The session of this connection has ended (signed out, revoked or expired): nothing more runs on this connection. Sign in again and reconnect.',
    );
  }
}

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

/**
 * The backing store refused because of how it is set up (missing credentials or region, access
 * denied, missing table): retrying will not help, fixing the configuration will. The message says
 * the fix. Clients still get a 503 (it is an unavailable store to them).
 */
export class SessionStateStoreMisconfiguredError extends SessionStateStoreUnavailableError {}

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
  /** `reason`: why this session is read-only, when it is not the handler's declaration (an SSE stream, a WebSocket message). */
  constructor(reason?: string) {
    super(
      reason ??
        'This session is read-only for this handler: use @SessionState(SessionStateBehavior.Required) ' +
          'on the handler (or its controller) to write to it.',
    );
  }
}

/**
 * The session was asked for in an execution context that this module cannot serve (an RPC
 * microservice, a transport it does not know), or one that is not set up for it. Thrown in place
 * of a crash or a misleading message; says which context and what to do.
 */
export class SessionStateUnsupportedContextError extends SessionStateError {
  constructor(
    readonly contextType: string,
    detail?: string,
  ) {
    super(
      detail ??
        `Session state is not available in the '${contextType}' execution context: it serves HTTP controllers, ` +
          `GraphQL resolvers and WebSocket gateways. Declare this handler @SessionState(SessionStateBehavior.Disabled) ` +
          `and take no @Session(), or read the session where the request enters over HTTP.`,
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
