import { Injectable, type ExecutionContext } from '@nestjs/common';
import { toHttpException } from './errors/to-http-exception.js';
import type { HttpSessionState } from './http-session-state.js';
import { httpExchange } from './http/http-exchange.js';
import { SessionStateBehavior } from './session-state-behavior.enum.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateLifecycle } from './session-state.lifecycle.js';

/**
 * The session of a request, for code that runs before interceptors: guards (an auth guard reading
 * the user), or anything holding the `ExecutionContext`. It acquires the session once, with the
 * handler's behavior (read-only when the handler itself takes no session), and the interceptor
 * then completes it as usual; if a guard refuses the request, the lock is released when the
 * response ends.
 */
@Injectable()
export class SessionStateAccessor {
  constructor(
    private readonly lifecycle: SessionStateLifecycle,
    private readonly behaviors: SessionStateBehaviorResolver,
  ) {}

  async get(context: ExecutionContext): Promise<HttpSessionState> {
    const http = context.switchToHttp();
    const declared = this.behaviors.resolve(context);
    const behavior = declared === SessionStateBehavior.Required ? declared : SessionStateBehavior.ReadOnly;
    const exchange = httpExchange(http.getRequest(), http.getResponse());
    try {
      return (await this.lifecycle.acquire(exchange, behavior, 'guard')).session;
    } catch (error) {
      throw toHttpException(error, exchange);
    }
  }
}
