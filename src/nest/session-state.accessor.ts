import { Injectable, type ExecutionContext } from '@nestjs/common';
import { requireTransport } from '../transports/session-transports.js';
import type { SessionExchange } from '../core/session-exchange.js';
import type { HttpSessionState } from '../session/http-session-state.js';
import { SessionStateBehavior } from '../core/session-state-behavior.enum.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateLifecycle } from '../core/session-state.lifecycle.js';
import { SessionStateError } from '../errors/session-state.errors.js';

const NO_HANDLER_MESSAGE =
  'SessionStateAccessor.get() needs the ExecutionContext of a guard, an interceptor or a handler: the context given has no ' +
  "handler (an exception filter's ArgumentsHost, or a context built by hand). An exception filter runs once the request's " +
  'session is completed: read what the error answer needs from the session in the handler or a guard, and pass it on ' +
  '(on the request, or in the exception).';

/**
 * The session of a request, for code that runs before interceptors: guards (an auth guard reading
 * the user), or anything holding the `ExecutionContext`. It acquires the session once, with the
 * handler's behavior (read-only when the handler itself takes no session), and the interceptor
 * then completes it as usual; if a guard refuses the request, the lock is released when the
 * response ends. For a handler that uses no session (it has no session interceptor), a read-only
 * session, completed at once; any number of calls in one request answer the same session. In a GraphQL resolver it is the request's session (acquired before execution);
 * in a WebSocket gateway, a read-only snapshot of the connection's session (a message has no
 * answer to release a lock at, should a guard refuse it).
 */
@Injectable()
export class SessionStateAccessor {
  constructor(
    private readonly lifecycle: SessionStateLifecycle,
    private readonly behaviors: SessionStateBehaviorResolver,
  ) {}

  async get(context: ExecutionContext): Promise<HttpSessionState> {
    // An exception filter's host has no handler (getHandler() answers undefined): no behavior to
    // resolve, and the request's session is already completed. Loading it again would make the error
    // answer wait on the store (or another request's lock), and fail again when the error is the store's.
    if (typeof context.getHandler !== 'function' || typeof context.getHandler() !== 'function') throw new SessionStateError(NO_HANDLER_MESSAGE);
    const transport = requireTransport(context); // an unsupported context type throws, naming it
    const exchange = transport.exchange(context);
    try {
      if (transport.guardAccess === 'snapshot') return await this.snapshot(exchange);
      const declared = this.behaviors.resolve(context);
      if (declared === SessionStateBehavior.Disabled && !transport.completesUnusedSessions) {
        // Asked again in the same request (a second guard, or one guard twice): the session the first
        // call loaded and completed. Acquiring again would try to take over a completed lease.
        const held = this.lifecycle.heldAcquisition(exchange.key);
        if (held) return (await held).session;
        // The handler uses no session, so no session interceptor runs for it: the read-only session
        // is completed here, while its cookie can still be renewed or signed again. (A GraphQL
        // request's session belongs to the server's hooks, which complete it.)
        // Acquired as the interceptor would: nothing waits for an interceptor to take it over.
        const lease = await this.lifecycle.acquire(exchange, SessionStateBehavior.ReadOnly, 'interceptor');
        await this.lifecycle.complete(lease, exchange, 'succeeded');
        return lease.session;
      }
      const behavior = declared === SessionStateBehavior.Required ? declared : SessionStateBehavior.ReadOnly;
      return (await this.lifecycle.acquire(exchange, behavior, 'guard')).session;
    } catch (error) {
      await transport.ready?.(); // what renders the client's error (WsException) may still be loading
      throw transport.clientError(error, exchange);
    }
  }

  private async snapshot(exchange: SessionExchange): Promise<HttpSessionState> {
    const lease = await this.lifecycle.acquire(exchange, SessionStateBehavior.ReadOnly, 'interceptor');
    this.lifecycle.discard(lease, exchange); // read-only, no lock: nothing to hold
    return lease.session;
  }
}
