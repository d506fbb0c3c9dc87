import type { SessionExchange } from '../../core/session-exchange.js';

/**
 * Server-sent events: an `@Sse()` handler reads a read-only snapshot of the session taken when the
 * stream starts, and holds no lock while it streams (a stream may last for hours; a lock would
 * block every write of its user). Writing is refused; so is `Required` on an `@Sse()` handler, at
 * startup (see session-state-declarations.ts): there is no point at which a stream's changes could
 * be saved before its answer is sent, since the answer is the stream.
 */
export const SSE_READ_ONLY =
  'The session of an @Sse() stream is a read-only snapshot taken when the stream starts (no lock is held while it ' +
  'streams). Write to the session in an ordinary request (POST) instead.';

/** Set by `@Sse()` on its handler (`SSE_METADATA` of @nestjs/common). */
const SSE_METADATA = '__sse__';

export function isSseHandler(handler: Function): boolean {
  return Reflect.getMetadata(SSE_METADATA, handler) === true;
}

export function sseExchange(exchange: SessionExchange): SessionExchange {
  // The exchange with another read-only reason (its methods kept: an exchange may be a class instance).
  return Object.create(exchange, { readOnlyReason: { value: SSE_READ_ONLY } }) as SessionExchange;
}
