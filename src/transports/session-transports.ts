import type { ExecutionContext } from '@nestjs/common';
import { SessionStateUnsupportedContextError } from '../errors/session-state.errors.js';
import { toHttpException } from '../errors/to-http-exception.js';
import { graphqlContextOf, graphqlExchange, graphqlKeyOf } from './graphql/graphql-exchange.js';
import { subscriptionExchange, subscriptionInfoOf } from './graphql/graphql-subscription-exchange.js';
import { HttpExchange } from './http/http-exchange.js';
import { leaseOf, type SessionLease } from '../core/session-lease.js';
import { wsExchange } from './ws/ws-exchange.js';
import { messageLease } from './ws/ws-message-lease.js';
import { loadWsException, toWsException } from './ws/to-ws-exception.js';
import type { SessionExchange } from '../core/session-exchange.js';

/*
 * The one place that knows the execution contexts: each transport's folder turns its context into
 * a session exchange; anything else is a SessionStateUnsupportedContextError that names the context.
 * Nothing here loads @nestjs/graphql or @nestjs/websockets: the transport folders only read the
 * objects Nest hands over.
 */

const NO_GRAPHQL_REQUEST =
  'This GraphQL resolver has no HTTP request in its context (`req`), so its session cannot be found. ' +
  'Keep `req` in the context (the Apollo and Mercurius drivers of @nestjs/graphql put it there; a custom ' +
  '`context` function must return it), or declare the resolver @SessionState(SessionStateBehavior.Disabled).';

/** The lease of the request, message or GraphQL request a handler runs for (what `@Session()` injects). */
export function leaseOfContext(context: ExecutionContext): SessionLease | undefined {
  const type = context.getType<string>();
  if (type === 'http') return leaseOf(context.switchToHttp().getRequest());
  if (type === 'ws') return messageLease();
  if (type === 'graphql') {
    const subscription = subscriptionInfoOf(context);
    if (subscription) return leaseOf(subscription);
    const key = graphqlKeyOf(graphqlContextOf(context));
    if (!key) throw new SessionStateUnsupportedContextError(type, NO_GRAPHQL_REQUEST);
    return leaseOf(key);
  }
  throw new SessionStateUnsupportedContextError(type);
}

/** The session exchange of an execution context (`http`, `ws`, `graphql` over HTTP). */
export function exchangeOfContext(context: ExecutionContext): SessionExchange {
  const type = context.getType<string>();
  if (type === 'http') {
    const http = context.switchToHttp();
    return new HttpExchange(http.getRequest(), http.getResponse());
  }
  if (type === 'ws') {
    loadWsException();
    return wsExchange(context);
  }
  if (type === 'graphql') {
    const subscription = subscriptionInfoOf(context);
    if (subscription) return subscriptionExchange(context, subscription);
    const exchange = graphqlExchange(graphqlContextOf(context));
    if (!exchange) throw new SessionStateUnsupportedContextError(type, NO_GRAPHQL_REQUEST);
    return exchange;
  }
  throw new SessionStateUnsupportedContextError(type);
}

/** A module error as the exchange's transport reports it (HTTP exceptions; `WsException` for a gateway). */
export function toTransportException(error: unknown, exchange: SessionExchange): unknown {
  return exchange.transport === 'ws' ? toWsException(error) : toHttpException(error, exchange);
}
