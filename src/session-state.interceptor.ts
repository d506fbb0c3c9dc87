import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { toHttpException } from './errors/to-http-exception.js';
import { httpExchange, type HttpExchange } from './http/http-exchange.js';
import { leaseOf } from './session-lease.js';
import { SessionStateBehavior } from './session-state-behavior.enum.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateLifecycle, type RequestOutcome } from './session-state.lifecycle.js';

/**
 * Runs the session lifecycle around every HTTP handler:
 * acquire → handler → complete (save / release / remove) → response.
 */
@Injectable()
export class SessionStateInterceptor implements NestInterceptor {
  constructor(
    private readonly lifecycle: SessionStateLifecycle,
    private readonly behaviors: SessionStateBehaviorResolver,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    // A guard may have loaded the session already (SessionStateAccessor): its lease decides.
    const behavior = leaseOf(http.getRequest())?.behavior ?? this.behaviors.resolve(context);
    // A session-less route costs nothing: no store call, no cookie.
    if (behavior === SessionStateBehavior.Disabled) return next.handle();

    const exchange = httpExchange(http.getRequest(), http.getResponse());
    const lease = await this.lifecycle
      .acquire(exchange, behavior, 'interceptor')
      .catch((error: unknown) => Promise.reject(toHttpException(error, exchange)));
    const complete = (outcome: RequestOutcome) => this.lifecycle.complete(lease, exchange, outcome);
    return completeBeforeResponse(next.handle(), complete, exchange, this.lifecycle);
  }
}

/**
 * Mirrors `source`, but holds back its last value (the response body) and its end until the
 * session is completed, so the client's next request sees this one's writes. An error releases
 * the lock before it propagates to the exception filters.
 */
function completeBeforeResponse(
  source: Observable<unknown>,
  complete: (outcome: RequestOutcome) => Promise<void>,
  exchange: HttpExchange,
  lifecycle: Pick<SessionStateLifecycle, 'outcomeOfError'>,
): Observable<unknown> {
  return new Observable((subscriber) => {
    let last: { value: unknown } | undefined;
    let settled = false;
    const subscription = source.subscribe({
      next: (value) => {
        if (last) subscriber.next(last.value);
        last = { value };
      },
      error: (error: unknown) => {
        settled = true;
        complete(lifecycle.outcomeOfError(error)).then(
          () => subscriber.error(error),
          () => subscriber.error(error), // the handler's error is the one worth reporting; the release failure was logged
        );
      },
      complete: () => {
        settled = true;
        complete('succeeded').then(
          () => {
            if (last) subscriber.next(last.value);
            subscriber.complete();
          },
          (error: unknown) => subscriber.error(toHttpException(error, exchange)),
        );
      },
    });
    return () => {
      subscription.unsubscribe();
      if (!settled) void complete('failed').catch(() => {});
    };
  });
}
