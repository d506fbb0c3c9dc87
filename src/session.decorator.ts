import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { SESSION_PARAM_METADATA } from './session-state.constants.js';
import { leaseOf } from './session-lease.js';
import type { HttpSessionState } from './http-session-state.js';

/**
 * Injects the request's `HttpSessionState`. A handler that takes it is `Required` (read-write,
 * locked) unless `@SessionState()` says otherwise.
 */
export const Session = createParamDecorator(
  (_data: unknown, context: ExecutionContext): HttpSessionState => {
    const lease = leaseOf(context.switchToHttp().getRequest());
    if (!lease) {
      throw new Error(
        '@Session() has no session for this request: the handler is declared SessionStateBehavior.Disabled, ' +
          'or SessionStateModule is not imported.',
      );
    }
    return lease.session;
  },
  // Marks the handler itself, so the interceptor can tell session-less handlers (zero store calls).
  [(target, key) => key !== undefined && Reflect.defineMetadata(SESSION_PARAM_METADATA, true, (target as any)[key])],
);
