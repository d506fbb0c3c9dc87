import { Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { SessionStateBehavior } from '../../core/session-state-behavior.enum.js';
import { SessionStateBehaviorResolver } from '../../nest/session-state-behavior.resolver.js';
import { SessionStateLifecycle } from '../../core/session-state.lifecycle.js';
import { deferSession, isWrappedHandler } from './session-handler.js';

/**
 * On a route whose handler runs its own session (see `session-handler.ts`): tells the handler the
 * module's lifecycle (of this application: a controller class may serve several) and the route's
 * behavior. Always lets the request through; acquires nothing (the handler does, once the route's
 * pipes are done, so a request refused before the handler runs costs no store call).
 */
@Injectable()
export class SessionStateGuard implements CanActivate {
  constructor(
    // Absent when SessionStateModule is not imported where the handler is: `@Session()` then says so.
    @Optional() private readonly lifecycle: SessionStateLifecycle,
    @Optional() private readonly behaviors: SessionStateBehaviorResolver,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    // Only a handler wrapped at startup takes what `@Session()` then gives (a placeholder).
    if (!this.lifecycle || context.getType() !== 'http' || !isWrappedHandler(context.getHandler())) return true;
    const behavior = this.behaviors.resolve(context);
    if (behavior === SessionStateBehavior.Disabled) return true; // `@Session()` says why there is none
    const http = context.switchToHttp();
    deferSession(http.getRequest<object>(), http.getResponse<object>(), this.lifecycle, behavior);
    return true;
  }
}
