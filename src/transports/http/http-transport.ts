import type { ExecutionContext } from '@nestjs/common';
import { leaseOf } from '../../core/session-lease.js';
import type { SessionTransport } from '../session-transport.js';
import { HttpExchange } from './http-exchange.js';
import { toHttpException } from './to-http-exception.js';

const leaseOfRequest = (context: ExecutionContext) => leaseOf(context.switchToHttp().getRequest<object>());

/** An HTTP controller's route (Express or Fastify): the lifecycle around the handler, the lease on the request. */
export const httpTransport: SessionTransport = {
  contextType: 'http',
  shape: 'request',
  exchange(context) {
    const http = context.switchToHttp();
    return new HttpExchange(http.getRequest(), http.getResponse());
  },
  lease: leaseOfRequest,
  guardedLease: leaseOfRequest,
  noSession:
    'this request has no session: the handler is declared SessionStateBehavior.Disabled, or SessionStateModule is not imported ' +
    "(with isGlobal: false, the handler's module must import it).",
  guardAccess: 'lease',
  completesUnusedSessions: false,
  clientError: toHttpException,
};
