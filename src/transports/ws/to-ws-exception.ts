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
  if (!WsException || !(error instanceof SessionStateError)) return error;
  // The cause stays server-side: store errors can name tables and carry AWS error text.
  const message =
    error instanceof SessionStateStoreUnavailableError || error instanceof SessionStateWaitAbortedError
      ? 'Session state is unavailable; try again.'
      : error.message;
  const exception = new WsException({ status: 'error', message, error: error.name });
  (exception as { cause?: unknown }).cause = error;
  return exception;
}
