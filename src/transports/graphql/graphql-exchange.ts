import type { ExecutionContext } from '@nestjs/common';
import type { SessionExchange } from '../../core/session-exchange.js';
import { HttpExchange } from '../http/http-exchange.js';

/** The GraphQL context value as the Nest drivers make it: `req` (Apollo, Mercurius), `res` or `reply`. */
export interface GraphQLContextValue {
  req?: { res?: object };
  res?: object;
  reply?: object;
}

/** The context value of a resolver's execution context (its third argument). */
export function graphqlContextOf(context: ExecutionContext): GraphQLContextValue | undefined {
  const value = context.getArgByIndex(2) as unknown;
  return typeof value === 'object' && value !== null ? (value as GraphQLContextValue) : undefined;
}

/**
 * The HTTP request a GraphQL operation came in: the unit of work. All the resolvers of the request,
 * and every operation of a batch, share its one session acquisition.
 */
export function graphqlKeyOf(value: GraphQLContextValue | undefined): object | undefined {
  const req = value?.req;
  return typeof req === 'object' && req !== null && 'headers' in req ? req : undefined;
}

/** A GraphQL request over HTTP as a session exchange (Apollo on Express: `req.res`; Mercurius: `reply`). */
export function graphqlExchange(value: GraphQLContextValue | undefined): SessionExchange | undefined {
  const req = graphqlKeyOf(value);
  const res = value?.reply ?? value?.res ?? value?.req?.res;
  if (!req || !res) return undefined;
  return new HttpExchange(req, res, 'graphql');
}
