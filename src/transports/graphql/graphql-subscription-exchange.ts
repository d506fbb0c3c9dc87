import type { ExecutionContext } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { SessionStateUnsupportedContextError } from '../../errors/session-state.errors.js';
import { handshakeOfRequest } from '../ws/ws-handshake.js';
import type { SessionExchange } from '../../core/session-exchange.js';
import { graphqlContextOf } from './graphql-exchange.js';

const READ_ONLY =
  "The session of a GraphQL subscription is a read-only snapshot of its connection's session, taken when the " +
  'subscription starts (a subscription holds no lock). Write to the session in a mutation instead.';
const CANNOT_START =
  'This GraphQL subscription has no session: its WebSocket handshake carried no valid session cookie (and a ' +
  'subscription cannot set one). Start the session over HTTP, then connect.';
const UNKNOWN_HANDSHAKE =
  "This GraphQL subscription's WebSocket handshake is unknown, so its session cannot be found: the session of a " +
  "subscription is read from its handshake's cookie with graphql-ws on Apollo (`subscriptions: { 'graphql-ws': true }`) " +
  'and with Mercurius (`subscription: true`, its default context). ' +
  'Declare the resolver @SessionState(SessionStateBehavior.Disabled) and take no @Session() on other servers.';

/** The resolver info of a GraphQL execution context, when its operation is a subscription: one per subscription. */
export function subscriptionInfoOf(context: ExecutionContext): object | undefined {
  const info = context.getArgByIndex(3) as { operation?: { operation?: string } } | undefined;
  return info?.operation?.operation === 'subscription' ? info : undefined;
}

/**
 * A GraphQL subscription as a session exchange: a read-only snapshot of the session that its
 * connection's handshake cookie names, keyed by the subscription's resolver info; refused
 * (`SessionStateEndedError`) when that session has ended. graphql-ws (under
 * Apollo) gives its context `{ extra: { request } }`, which the Nest driver puts under `req`;
 * Mercurius gives its subscriptions' context the handshake's Fastify request as `request`.
 */
export function subscriptionExchange(context: ExecutionContext, key: object): SessionExchange {
  const value = graphqlContextOf(context) as { req?: unknown; request?: { headers?: IncomingMessage['headers']; raw?: IncomingMessage } } | undefined;
  const wsContext = (value?.req ?? value) as
    { extra?: { request?: IncomingMessage; socket?: { once?(e: string, l: () => void): unknown } } } | undefined;
  const upgrade = wsContext?.extra?.request ?? (value?.request?.headers ? (value.request.raw ?? (value.request as IncomingMessage)) : undefined);
  if (!upgrade?.headers) throw new SessionStateUnsupportedContextError('graphql', UNKNOWN_HANDSHAKE);
  const handshake = handshakeOfRequest(upgrade);
  const { cookieHeader, isHttps } = handshake;
  return {
    key,
    transport: 'graphql',
    cookieHeader: () => cookieHeader,
    requestHeader: (name) => handshake.requestHeader(name),
    isHttps: () => isHttps,
    canSetCookie: () => false,
    appendSetCookie: () => {},
    setHeader: () => {},
    // A read-only snapshot never waits for a lock holder for long, and holds nothing afterwards.
    onClientGone: () => () => {},
    onAnswered: () => {},
    readOnlyReason: READ_ONLY,
    cannotStartSession: CANNOT_START,
    // A subscription of a session that ended since the connection opened is refused (the client can tell), not given an empty one.
    refusesEndedSession: true,
  };
}
