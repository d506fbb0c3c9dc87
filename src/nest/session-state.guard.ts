import { Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { SessionStateUnsupportedContextError } from '../errors/session-state.errors.js';
import type { HeldAnswer, SessionExchange } from '../core/session-exchange.js';
import { leaseOf, type SessionLease } from '../core/session-lease.js';
import { SessionStateBehavior } from '../core/session-state-behavior.enum.js';
import { SessionStateLifecycle } from '../core/session-state.lifecycle.js';
import { transportOf } from '../transports/session-transports.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';

/**
 * The session of an HTTP route without Nest's interceptor pipeline: bound with
 * `@UseGuards(SessionStateGuard)` (a controller, or one route), it takes the session as a guard and
 * completes it when the answer goes out, as express-session does, instead of the session
 * interceptor (which the startup removes from those routes: see session-interceptor.binding.ts).
 * In an application without interceptors that pipeline costs Nest about as much as the session
 * itself (docs/BENCHMARKS.md); the price is that the answer, not the handler, says how the request
 * ended: an answer with status 400 or more discards the session's changes (`saveOnError:
 * 'client-errors'` keeps them below 500; a predicate, which needs the error, is refused at startup).
 * It fails at startup where it cannot apply (a WebSocket gateway or GraphQL resolver, an `@Sse()`
 * stream, a handler that takes `@Res()` or `@Next()`): see docs/USAGE.md, "Binding by a guard".
 */
@Injectable()
export class SessionStateGuard implements CanActivate {
  constructor(
    // Absent when SessionStateModule is not imported where the handler is: `@Session()` then says so.
    @Optional() private readonly lifecycle: SessionStateLifecycle,
    @Optional() private readonly behaviors: SessionStateBehaviorResolver,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (!this.lifecycle) return true;
    const behavior = this.behaviors.resolve(context);
    if (behavior === SessionStateBehavior.Disabled) return true;
    const transport = transportOf(context);
    if (transport?.shape !== 'request' || transport.contextType !== 'http') throw new SessionStateUnsupportedContextError(context.getType<string>());
    const exchange = transport.exchange(context);
    // Under `mountSessionState`, a route that writes already completes at its answer (the mount's guard ran first).
    if (leaseOf(exchange.key)?.guardAnswer) return true;
    const toClientError = (error: unknown) => transport.clientError(error, exchange);
    // Acquired as the interceptor would (a guard before this one may have loaded it: this takes it over).
    return this.lifecycle.acquire(exchange, behavior, 'interceptor').then(
      (lease) => (this.completeAtAnswer(lease, exchange, toClientError), true),
      (error: unknown) => {
        throw toClientError(error);
      },
    );
  }

  /**
   * The answer (the handler's, an exception filter's, a later guard's refusal) is held until the
   * session is completed, as a guard's answer under `mountSessionState` is: its cookie goes on it,
   * and the client's next request sees what this one saved. A failed save answers its error instead.
   */
  private completeAtAnswer(lease: SessionLease, exchange: SessionExchange, toClientError: (error: unknown) => unknown): void {
    // A read-only session with nothing to write or send at the end (most reads): done now, no answer held.
    if (this.lifecycle.hasNothingToComplete(lease)) return this.lifecycle.discard(lease, exchange);
    const answer: HeldAnswer = exchange.holdAnswer!({ sentByNest: true });
    lease.guardAnswer = answer;
    // A client that leaves before its answer may never get one (Nest sends none when it tears down an
    // Observable handler whose client left): the request's hold on the session ends then, its changes
    // discarded. What the handler does after that is no longer serialised with the session's next
    // request (the interceptor binding waits for the handler to settle: it sees it; a guard cannot).
    // An answer that went out without passing the hold (something replaced the response's prototype
    // after the guard: an Express sub-app) is completed then, late, and said: never a lock left behind.
    // One listener, left in place once answered (removing one per request showed in the profile).
    exchange.onClosed!((answered) => {
      if (lease.completion) return;
      if (!answered) return this.lifecycle.discard(lease, exchange);
      this.lifecycle.warn(
        'An answer went out without the session guard seeing it (its response was re-hooked after the guard); the session was completed after it.',
      );
      this.lifecycle.complete(lease, exchange, this.lifecycle.outcomeOfAnswer(answer.status())).catch(() => this.lifecycle.discard(lease, exchange));
    });
    answer.onSending(() => {
      const completion = this.lifecycle.complete(lease, exchange, this.lifecycle.outcomeOfAnswer(answer.status()));
      answer.release(completion, toClientError);
    });
  }
}
