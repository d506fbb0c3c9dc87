import { leaseOf } from '../../core/session-lease.js';
import type { SessionTransport } from '../session-transport.js';
import { RESOLVER_TYPE_METADATA } from './graphql-session-fields.js';
import { subscriptionExchange, subscriptionInfoOf } from './graphql-subscription-exchange.js';
import { endingWithSession } from './graphql-subscription-stream.js';
import { toSubscriptionError } from './to-subscription-error.js';
import { GRAPHQL_NO_SESSION } from './graphql-transport.js';

/**
 * A GraphQL subscription: a stream, so it reads a snapshot of its connection's session (see
 * graphql-subscription-exchange.ts), and ends with an error once that session has ended (revoked,
 * signed out, expired): refused at subscribe, checked before each event.
 */
export const graphqlSubscriptionTransport: SessionTransport = {
  contextType: 'graphql',
  shape: 'stream',
  serves: (context) => subscriptionInfoOf(context) !== undefined,
  exchange: (context) => subscriptionExchange(context, subscriptionInfoOf(context)!),
  lease: (context) => leaseOf(subscriptionInfoOf(context)!),
  noSession: GRAPHQL_NO_SESSION,
  guardAccess: 'lease',
  completesUnusedSessions: true,
  clientError: toSubscriptionError,
  endingWithSession: (result, check) => endingWithSession(result, check, toSubscriptionError),
  streamDecoratorOf: (handler) => (Reflect.getMetadata(RESOLVER_TYPE_METADATA, handler) === 'Subscription' ? '@Subscription()' : undefined),
};
