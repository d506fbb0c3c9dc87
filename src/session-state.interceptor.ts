import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable, type Subscriber } from 'rxjs';
import { toHttpException } from './errors/to-http-exception.js';
import type { SessionExchange } from './exchange/session-exchange.js';
import { httpExchange } from './http/http-exchange.js';
import { leaseOf, type SessionLease } from './session-lease.js';
import { SessionStateBehavior } from './session-state-behavior.enum.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateLifecycle } from './session-state.lifecycle.js';

/**
 * Runs the session lifecycle around every handler:
 * acquire → handler → complete (save / release / remove) → response.
 *
 * Everything happens inside the returned Observable's subscription, so whoever subscribes owns the
 * lease: an outer interceptor that gives up first (a `timeout()`) stops the wait for the lock, and
 * a lease acquired for a subscriber that already left is released at once.
 */
@Injectable()
export class SessionStateInterceptor implements NestInterceptor {
  constructor(
    private readonly lifecycle: SessionStateLifecycle,
    private readonly behaviors: SessionStateBehaviorResolver,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    // A guard may have loaded the session already (SessionStateAccessor): its lease decides.
    const behavior = leaseOf(http.getRequest())?.behavior ?? this.behaviors.resolve(context);
    // A session-less route costs nothing: no store call, no cookie.
    if (behavior === SessionStateBehavior.Disabled) return next.handle();
    const exchange = httpExchange(http.getRequest(), http.getResponse());

    return new Observable((subscriber) => {
      const cancel = new AbortController();
      let gone = false;
      let detach: (() => void) | undefined;
      this.lifecycle.acquire(exchange, behavior, 'interceptor', cancel.signal).then(
        (lease) => {
          if (gone) return this.lifecycle.discard(lease, exchange);
          detach = this.runHandler(next, subscriber, lease, exchange);
        },
        (error: unknown) => subscriber.error(toHttpException(error, exchange)),
      );
      return () => {
        gone = true;
        if (detach) detach();
        else cancel.abort();
      };
    });
  }

  /**
   * Runs the handler and completes the lease before the handler's Observable completes, so the
   * response (sent on completion) follows the save and the client's next request sees it. Values
   * pass through as they come (an `@Sse()` stream is not held back). An error releases the lock
   * before it reaches the exception filters. Answers the teardown for an early unsubscription.
   */
  private runHandler(next: CallHandler, subscriber: Subscriber<unknown>, lease: SessionLease, exchange: SessionExchange): () => void {
    const complete = (outcome: 'succeeded' | 'failed') => this.lifecycle.complete(lease, exchange, outcome);
    let settled = false;
    let detached = false;
    let staleTimer: NodeJS.Timeout | undefined;
    const settle = () => {
      settled = true;
      clearTimeout(staleTimer);
    };
    const subscription = next.handle().subscribe({
      next: (value) => subscriber.next(value),
      error: (error: unknown) => {
        settle();
        // The handler's error is the one worth reporting; a release failure was logged.
        complete('failed').then(
          () => subscriber.error(error),
          () => subscriber.error(error),
        );
      },
      complete: () => {
        settle();
        complete(detached ? 'failed' : 'succeeded').then(
          () => subscriber.complete(),
          (error: unknown) => subscriber.error(toHttpException(error, exchange)),
        );
      },
    });
    return () => {
      if (settled) return;
      if (lease.lockId === null) {
        subscription.unsubscribe();
        return this.lifecycle.discard(lease, exchange);
      }
      // The subscriber left (an outer timeout answered already) while the handler runs. A handler's
      // promise cannot be stopped, so the lock stays until it settles (its changes are discarded),
      // and at the latest until the lock turns stale.
      detached = true;
      staleTimer = setTimeout(() => {
        subscription.unsubscribe();
        this.lifecycle.discard(lease, exchange);
      }, this.lifecycle.msUntilStale(lease));
      staleTimer.unref();
    };
  }
}
