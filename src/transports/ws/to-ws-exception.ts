import { STORE_FAILED_MESSAGE } from '../../errors/to-http-exception.js';
import { isStoreError } from '../../observability/store-failure-log.js';
import { SessionStateError, SessionStateStoreUnavailableError, SessionStateWaitAbortedError } from '../../errors/session-state.errors.js';

/** `WsException` of @nestjs/websockets, loaded on the first WebSocket exchange (an app without gateways never loads it). */
let WsException: (new (error: string | object) => Error) | undefined;

export function loadWsException(): void {
  if (WsException) return;
  import('@nestjs/websockets').then(
    (m) => (WsException = m.WsException),
    () => {},
  );
}

/**
 * The module's errors as a gateway's client sees them: Nest's WebSocket exception filter sends a
 * `WsException`'s message and answers anything else with "Internal server error".
 */
export function toWsException(error: unknown): unknown {
  if (!WsException) return error;
  // Any other error of the store: Nest would log its message (which may name the session's key);
  // the store-failure log has logged it, redacted.
  if (!(error instanceof SessionStateError)) {
    if (!isStoreError(error)) return error;
    const exception = new WsException({ status: 'error', message: STORE_FAILED_MESSAGE, error: 'SessionStateError' });
    (exception as { cause?: unknown }).cause = error;
    return exception;
  }
  // The cause stays server-side: store errors can name tables and carry AWS error text.
  const message =
    error instanceof SessionStateStoreUnavailableError || error instanceof SessionStateWaitAbortedError
      ? 'Session state is unavailable; try again.'
      : error.message;
  const exception = new WsException({ status: 'error', message, error: error.name });
  (exception as { cause?: unknown }).cause = error;
  return exception;
}
