import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { SessionStateBehavior } from '../../core/session-state-behavior.enum.js';
import { requestSessionOf } from '../../transports/http/compat/request-session.binding.js';
import { SessionStateBehaviorResolver } from '../session-state-behavior.resolver.js';

/**
 * Made global by `mountSessionState(app)` (`useGlobalGuards`), so it runs before the app's
 * controller and route guards (passport's `AuthGuard('local')` among them): tells a mounted request's `req.session` what its route does.
 * A route that writes (Required) takes the session's lock here, so that whatever the guards after
 * it write (passport's login) is saved under it; any other keeps the read-only session loaded at
 * mount. A request without the mount's binding (a GraphQL resolver, a WebSocket message; a mounted
 * request whose load failed never reaches its route: the mount answered or stopped it) passes
 * through at the cost of one property read; an app that does not mount it never runs it.
 */
@Injectable()
export class RequestSessionGuard implements CanActivate {
  constructor(private readonly behaviors: SessionStateBehaviorResolver) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const binding = requestSessionOf(context.switchToHttp().getRequest<object>());
    if (!binding) return true;
    if (this.behaviors.resolve(context) !== SessionStateBehavior.Required) {
      binding.useLoaded();
      return true;
    }
    return binding.lock().then(() => true);
  }
}
