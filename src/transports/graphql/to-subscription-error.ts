import { IntrinsicException } from '@nestjs/common';
import { sessionErrorOf } from '../../errors/session-error-catalog.js';

/**
 * A session error as a GraphQL subscription's client receives it. graphql-js (at subscribe), graphql-ws
 * and Mercurius (mid-stream) copy a thrown error's `extensions` onto the GraphQL error they send, so
 * the client reads the catalog's message and `extensions.code` `SESSION_STATE_<status>`, as for a
 * query (to-graphql-error.ts; no `http`: a WebSocket has no status), plus `retryAfter` in seconds.
 * An `IntrinsicException`: a refusal is the client's answer, not a failure for Nest's exception
 * handler to log (a store failure was logged, redacted, by the store failure log).
 */
export class GraphQLSubscriptionSessionError extends IntrinsicException {
  constructor(
    message: string,
    readonly extensions: { readonly code: string; readonly retryAfter?: number },
    options: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'GraphQLSubscriptionSessionError';
  }
}

/** By the error catalog; anything it does not answer (the application's, a programming error) passes through unchanged. */
export function toSubscriptionError(error: unknown): unknown {
  const entry = sessionErrorOf(error);
  if (entry.status === undefined || entry.message === undefined) return error;
  const extensions = {
    code: `SESSION_STATE_${entry.status}`,
    ...(entry.retryAfterSeconds !== undefined ? { retryAfter: entry.retryAfterSeconds } : {}),
  };
  return new GraphQLSubscriptionSessionError(entry.message, extensions, { cause: error });
}
