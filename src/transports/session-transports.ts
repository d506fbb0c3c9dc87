import type { ExecutionContext } from '@nestjs/common';
import type { SessionExchange } from '../core/session-exchange.js';
import { SessionStateUnsupportedContextError } from '../errors/session-state.errors.js';
import { graphqlSubscriptionTransport } from './graphql/graphql-subscription-transport.js';
import { graphqlTransport } from './graphql/graphql-transport.js';
import { httpTransport } from './http/http-transport.js';
import type { SessionTransport } from './session-transport.js';
import { sseTransport } from './sse/sse-transport.js';
import { wsTransport } from './ws/ws-transport.js';

/*
 * The transports the module serves: the one place that knows them. A context of another type has
 * none: a handler of it that uses the session gets a SessionStateUnsupportedContextError naming it.
 * Nothing here loads @nestjs/graphql or @nestjs/websockets: the transports only read the objects
 * Nest hands over.
 */

/** Every transport; of one context type, the more specific first (an `@Sse()` route before any HTTP route). */
const TRANSPORTS: readonly SessionTransport[] = [sseTransport, httpTransport, wsTransport, graphqlSubscriptionTransport, graphqlTransport];

const byContextType = new Map<string, SessionTransport[]>();
for (const transport of TRANSPORTS) {
  const ofType = byContextType.get(transport.contextType) ?? [];
  byContextType.set(transport.contextType, [...ofType, transport]);
}

/** The transport of an execution context; undefined for a context the module does not serve. */
export function transportOf(context: ExecutionContext): SessionTransport | undefined {
  const candidates = byContextType.get(context.getType<string>());
  if (!candidates) return undefined;
  for (const transport of candidates) if (!transport.serves || transport.serves(context)) return transport;
  return undefined;
}

/** The transport of an execution context; throws a SessionStateUnsupportedContextError naming a context the module does not serve. */
export function requireTransport(context: ExecutionContext): SessionTransport {
  const transport = transportOf(context);
  if (!transport) throw new SessionStateUnsupportedContextError(context.getType<string>());
  return transport;
}

/** The decorator that makes `handler` a stream of some transport (`@Sse()`, `@Subscription()`), if one does. */
export function streamDecoratorOf(handler: Function): string | undefined {
  for (const transport of TRANSPORTS) {
    const decorator = transport.streamDecoratorOf?.(handler);
    if (decorator) return decorator;
  }
  return undefined;
}

/** A session error as the client of the exchange's transport receives it (by its context type). */
export function toTransportException(error: unknown, exchange: SessionExchange): unknown {
  const transport = byContextType.get(exchange.transport)?.[0];
  return transport ? transport.clientError(error, exchange) : error;
}
