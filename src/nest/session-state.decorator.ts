import { SessionStateBehavior } from '../core/session-state-behavior.enum.js';
import { bindSessionInterceptor } from './session-interceptor.binding.js';
import { SESSION_STATE_BEHAVIOR_METADATA } from '../module/session-state.constants.js';

/**
 * Declares how a controller's handlers, or one handler, use the session. The handler's
 * declaration wins over its controller's.
 */
export const SessionState =
  (behavior: SessionStateBehavior): ClassDecorator & MethodDecorator =>
  (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    // On a method, `descriptor.value` is the handler; on a class, the class.
    const declared = descriptor ? (descriptor.value as object) : target;
    Reflect.defineMetadata(SESSION_STATE_BEHAVIOR_METADATA, behavior, declared);
    if (behavior !== SessionStateBehavior.Disabled) bindSessionInterceptor(declared);
  };
