import type { SessionExchange } from '../../core/session-exchange.js';
import { sessionErrorOf, STORE_FAILED_MESSAGE } from '../../errors/session-error-catalog.js';

/**
 * A session error of a GraphQL request's server hooks as a GraphQL error, by the error catalog: its
 * client message, `extensions.code` `SESSION_STATE_<status>` and the HTTP status (with `Retry-After`)
 * that the HTTP layer would have answered. Anything the catalog does not answer (nothing else can
 * answer it here: no exception filter sees the server's hooks) is a 500, logged by `log`.
 */
export async function toGraphQLError(error: unknown, exchange: SessionExchange, log: (error: unknown) => void): Promise<Error> {
  const entry = sessionErrorOf(error);
  const status = entry.status ?? 500;
  if (status === 500) log(error);
  if (entry.retryAfterSeconds !== undefined) exchange.setHeader('Retry-After', String(entry.retryAfterSeconds));
  const { GraphQLError } = await import('graphql');
  // No `originalError`: graphql-js copies its stack (whose first line is the store's message: a table
  // name, AWS error text, a session id) onto the answer's error, which Apollo sends to the client
  // outside production and test. The cause stays server-side, in the (redacted) log.
  return new GraphQLError(entry.status === undefined ? STORE_FAILED_MESSAGE : entry.message!, {
    extensions: { code: `SESSION_STATE_${status}`, http: { status } },
  });
}
