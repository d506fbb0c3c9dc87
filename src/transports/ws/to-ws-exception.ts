import { sessionErrorOf } from '../../errors/session-error-catalog.js';

/** `WsException` of @nestjs/websockets, loaded on the first WebSocket exchange (an app without gateways never loads it). */
let WsException: (new (error: string | object) => Error) | undefined;
/** The load under way; `loaded` once it settled (a failed load is not retried: nothing to wait for then). */
let loading: Promise<void> | undefined;
let loaded = false;

/**
 * Starts loading `WsException` if it is not yet; resolves once it settled, undefined once it has.
 * A message's errors must wait for it (`wsTransport.ready`): before, they would go out raw.
 */
export function loadWsException(): Promise<void> | undefined {
  if (loaded) return undefined;
  loading ??= import('@nestjs/websockets').then(
    (m) => void ((WsException = m.WsException), (loaded = true)),
    () => void (loaded = true),
  );
  return loading;
}

/**
 * A session error as a gateway's client sees it, by the error catalog: Nest's WebSocket exception
 * filter sends a `WsException`'s object as it is (`{ status: 'error', message, error }`, plus
 * `retryAfter` in seconds) and answers anything else "Internal server error". A programming error's
 * message (the module's own text) is sent too: it tells the client's developer what to do (connect
 * with a session cookie). The application's own errors pass through.
 */
export function toWsException(error: unknown): unknown {
  if (!WsException) return error;
  const entry = sessionErrorOf(error);
  if (entry.message === undefined) return error;
  const body: Record<string, unknown> = { status: 'error', message: entry.message, error: entry.name };
  if (entry.retryAfterSeconds !== undefined) body.retryAfter = entry.retryAfterSeconds;
  const exception = new WsException(body);
  // The cause stays server-side (a store's error was logged, redacted, by the store failure log).
  (exception as { cause?: unknown }).cause = error;
  return exception;
}
