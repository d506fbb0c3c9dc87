import type { ExecutionContext } from '@nestjs/common';
import { leaseOf } from '../../core/session-lease.js';
import { SessionStateUnsupportedContextError } from '../../errors/session-state.errors.js';
import { toHttpException } from '../http/to-http-exception.js';
import type { SessionTransport } from '../session-transport.js';
import { graphqlContextOf, graphqlExchange, graphqlKeyOf } from './graphql-exchange.js';

const NO_GRAPHQL_REQUEST =
  'This GraphQL resolver has no HTTP request in its context (`req`), so its session cannot be found. ' +
  'Keep `req` in the context (the Apollo and Mercurius drivers of @nestjs/graphql put it there; a custom ' +
  '`context` function must return it), or declare the resolver @SessionState(SessionStateBehavior.Disabled).';

export const GRAPHQL_NO_SESSION =
  "this GraphQL request has no session: the resolver is declared SessionStateBehavior.Disabled, or the GraphQL server's " +
  'session hooks did not run. They run with the Apollo driver (@nestjs/apollo; if GraphQLModule has an `include` list, ' +
  'add SessionStateModule to it) and the Mercurius driver (@nestjs/mercurius); other drivers are not supported.';

/**
 * A GraphQL query or mutation over HTTP: the server's hooks (graphql-session-hooks.ts) run its
 * session once per HTTP request; a resolver holds the request's lock while it runs.
 */
export const graphqlTransport: SessionTransport = {
  contextType: 'graphql',
  shape: 'hosted',
  exchange(context) {
    const exchange = graphqlExchange(graphqlContextOf(context));
    if (!exchange) throw new SessionStateUnsupportedContextError('graphql', NO_GRAPHQL_REQUEST);
    return exchange;
  },
  lease(context: ExecutionContext) {
    const key = graphqlKeyOf(graphqlContextOf(context));
    if (!key) throw new SessionStateUnsupportedContextError('graphql', NO_GRAPHQL_REQUEST);
    return leaseOf(key);
  },
  noSession: GRAPHQL_NO_SESSION,
  guardAccess: 'lease',
  completesUnusedSessions: true,
  // A guard's error (SessionStateAccessor) reaches the client through the GraphQL driver, which answers HttpExceptions.
  clientError: toHttpException,
};
