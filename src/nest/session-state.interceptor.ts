import { Injectable, Optional, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable, from, switchMap, takeUntil, throwError, type Observer, type Subscriber } from 'rxjs';
import { checkedEvents } from './checked-events.js';
import { completeOnSettle } from './complete-on-settle.js';
import { transportOf } from '../transports/session-transports.js';
import type { SessionTransport } from '../transports/session-transport.js';
import type { SessionExchange } from '../core/session-exchange.js';
import { SessionStateUnsupportedContextError } from '../errors/session-state.errors.js';
import { LazyAbort } from '../lock/lazy-abort.js';
import type { SessionLease } from '../core/session-lease.js';
import { SessionStateBehavior } from '../core/session-state-behavior.enum.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateLifecycle } from '../core/session-state.lifecycle.js';

/**
 * Runs the session lifecycle around every handler that uses the session:
 * acquire → handler → complete (save / release / remove) → response.
 *
 * Everything happens inside the returned Observable's subscription, so whoever subscribes owns the
 * lease: an outer interceptor that gives up first (a `timeout()`) stops the wait for the lock, and
 * a lease acquired for a subscriber that already left is released at once.
 */
@Injectable()
export class SessionStateInterceptor implements NestInterceptor {
  constructor(
    // Absent when SessionStateModule is not imported where the handler is: `@Session()` then says so.
    @Optional() private readonly lifecycle: SessionStateLifecycle,
    @Optional() private readonly behaviors: SessionStateBehaviorResolver,
  ) {}

  /** Whether this module's session is reachable from the module Nest made this interceptor in. */
  get hasSession(): boolean {
    return this.lifecycle !== undefined;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (!this.lifecycle) return next.handle();
    const transport = transportOf(context);
    // A GraphQL request is run by the GraphQL server's request hooks (graphql/): once per HTTP request,
    // not per resolver; here a resolver only holds the request's lock while it runs.
    if (transport?.shape === 'hosted') return this.holdWhileRunning(transport, context, next);
    // A guard may have loaded the session already (SessionStateAccessor): its lease decides.
    const guarded = transport?.guardedLease?.(context);
    // A stream (@Sse(), @Subscription()) resolves to ReadOnly: a snapshot (see the resolver).
    const behavior = guarded?.behavior ?? this.behaviors.resolve(context);
    // A session-less handler costs nothing: no store call, no cookie (whatever its transport).
    if (behavior === SessionStateBehavior.Disabled) return next.handle();
    if (!transport) return throwError(() => new SessionStateUnsupportedContextError(context.getType<string>()));
    // The first message of a transport that still loads what renders its errors waits for it (once).
    const ready = transport.ready?.();
    if (ready) return from(ready).pipe(switchMap(() => this.intercept(context, next)));
    // A stream reads a snapshot taken when it starts (see sse-session.ts, graphql-subscription-exchange.ts).
    const snapshot = transport.shape === 'stream';
    let exchange: SessionExchange;
    try {
      exchange = transport.exchange(context); // a context the transport cannot serve says so here
    } catch (error) {
      return throwError(() => (transport.handlerError ? transport.handlerError(error) : error));
    }
    // A handler that sends its answer itself (`@Res()`): its answer is held until the session is completed.
    const holdsAnswer = !snapshot && exchange.holdAnswer !== undefined && this.behaviors.answersItself(context.getHandler(), context.getClass());
    // Nest sends a passthrough handler's answer once its result is complete: not one it sends alone.
    const answersAlone = holdsAnswer && !this.behaviors.passesAnswerThrough(context.getHandler(), context.getClass());

    return new Observable((subscriber) => {
      const cancel = new LazyAbort(); // its signal is made only if the request waits for the lock
      let gone = false;
      let detach: (() => void) | undefined;
      this.lifecycle.acquire(exchange, behavior, 'interceptor', cancel).then(
        (lease) => {
          if (gone) return this.lifecycle.discard(lease, exchange);
          try {
            detach = this.runHandler(transport, next, subscriber, lease, exchange, snapshot, holdsAnswer, answersAlone);
          } catch (error) {
            // Never an unhandled rejection, never a lease left behind.
            this.lifecycle.discard(lease, exchange);
            subscriber.error(error);
          }
        },
        (error: unknown) => subscriber.error(transport.clientError(error, exchange)),
      );
      return () => {
        gone = true;
        if (detach) detach();
        else cancel.abort();
      };
    });
  }

  /**
   * A GraphQL resolver holds its request's lock while it runs, even after an outer interceptor (a
   * timeout) gave up on it: the resolver cannot be stopped, and the next request of the session
   * must not run beside it. So it stays subscribed until it settles (see `SessionStateLifecycle.hold`).
   * The resolvers of one read-write request run one after the other, in the order they are called.
   */
  private holdWhileRunning(transport: SessionTransport, context: ExecutionContext, next: CallHandler): Observable<unknown> {
    let lease: SessionLease | undefined;
    try {
      lease = transport.lease(context);
    } catch {
      return next.handle(); // no request in the context: `@Session()` says so
    }
    // Read-write: a locked session, or a new one (no cookie, an unknown id), which holds no store lock
    // but is still one session its resolvers share (review R21).
    if (!lease || lease.session.isReadOnly) return next.handle();
    const held = lease;
    return new Observable((subscriber) => {
      const settled = this.lifecycle.hold(held);
      let left = false;
      // One at a time: a batch's operations, and a query's root fields, run in parallel on the request's
      // one session, and each read-modify-write must see the one before it (review R18: lost updates).
      held.resolvers = (held.resolvers ?? Promise.resolve()).then(
        () =>
          new Promise<void>((done) => {
            const end = () => (settled(), done());
            // Its subscriber gave up while it waited (an outer timeout): it never runs.
            if (left) return end();
            try {
              next.handle().subscribe({
                next: (value) => subscriber.next(value),
                error: (error: unknown) => (end(), subscriber.error(error)),
                complete: () => (end(), subscriber.complete()),
              });
            } catch (error) {
              end();
              subscriber.error(error);
            }
          }),
      );
      return () => {
        left = true;
      };
    });
  }

  /**
   * A stream of a stored session ends with its session (a GraphQL subscription, an `@Sse()` stream):
   * each event first checks the session still lives. A stream without a stored session (no cookie)
   * has nothing that could end.
   */
  private endingWithSession(
    transport: SessionTransport,
    lease: SessionLease,
    exchange: SessionExchange,
    snapshot: boolean,
    observer: Observer<unknown>,
  ): Observer<unknown> {
    if (!snapshot || lease.loaded === null) return observer;
    const check = () => this.lifecycle.liveness.check(lease);
    // An @Sse() stream: each event (its values are the events).
    if (transport.checksEachEvent) return checkedEvents(observer, check, (error) => transport.clientError(error, exchange));
    // A GraphQL subscription: its one value is the stream, wrapped.
    if (!transport.endingWithSession) return observer;
    return { ...observer, next: (value) => observer.next(transport.endingWithSession!(value, check)) };
  }

  /**
   * Runs the handler and completes the lease before the handler's Observable completes, so the
   * response (sent on completion) follows the save and the client's next request sees it. Values
   * pass through as they come (an `@Sse()` stream is not held back). An error releases the lock
   * before it reaches the exception filters. Answers the teardown for an early unsubscription.
   */
  private runHandler(
    transport: SessionTransport,
    next: CallHandler,
    subscriber: Subscriber<unknown>,
    lease: SessionLease,
    exchange: SessionExchange,
    snapshot: boolean,
    holdsAnswer: boolean,
    answersAlone: boolean,
  ): () => void {
    const answer = holdsAnswer ? exchange.holdAnswer?.() : undefined;
    const teardown = completeOnSettle(
      this.lifecycle,
      lease,
      exchange,
      subscriber,
      (observer) => {
        const watched = this.endingWithSession(transport, lease, exchange, snapshot, observer);
        // A stream nothing else ends would hold the HTTP server's close (see `endsAtShutdown`).
        const handle = () => (transport.endsAtShutdown ? next.handle().pipe(takeUntil(this.lifecycle.endAtShutdown(exchange))) : next.handle());
        return exchange.runHandler ? exchange.runHandler(lease, () => handle().subscribe(watched)) : handle().subscribe(watched);
      },
      {
        held: lease.lockId !== null && !snapshot,
        // A gateway's client sees a WsException's message, and "Internal server error" for anything else.
        handlerError: transport.handlerError,
        answer,
        answersAlone: answer !== undefined && answersAlone,
        // A transport that sends each value as it comes (a WebSocket message) gets them after the save.
        valuesAfterSave: transport.valuesAfterSave === true,
      },
    );
    // A snapshot (read-only, no lock) is complete once the handler started: the stream holds nothing
    // (and shutdown does not wait for it).
    if (snapshot) this.lifecycle.discard(lease, exchange);
    return teardown;
  }
}
