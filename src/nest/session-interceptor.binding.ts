import type { FactoryProvider } from '@nestjs/common';
import { INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { SessionStateBehavior } from '../core/session-state-behavior.enum.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateInterceptor } from './session-state.interceptor.js';

/**
 * Binds the session interceptor to a handler (or to every handler of a class), as
 * `@UseInterceptors(SessionStateInterceptor)` would, once. `@Session()` and `@SessionState()` do it,
 * so that only the handlers that use the session run it: one that does not has no interceptor at
 * all and does not even pay Nest's interceptor pipeline. Nest makes the interceptor in the
 * handler's module.
 */
export function bindSessionInterceptor(target: object): void {
  const bound = interceptorsOf(target);
  if (!bound.includes(SessionStateInterceptor)) Reflect.defineMetadata(INTERCEPTORS_METADATA, [...bound, SessionStateInterceptor], target);
}

/** Token of the provider whose construction puts the interceptor innermost. */
export const SESSION_INTERCEPTOR_INNERMOST = Symbol('nestjs-session-state:interceptor-innermost');

/**
 * Makes the session interceptor the innermost of every handler it is bound to: after the app's
 * global, controller and method interceptors. Decorators alone cannot: `@Session()` (a parameter
 * decorator) runs before the method's `@UseInterceptors()`, and a class's `@SessionState()` binds at
 * class level, outside every method-level interceptor. Innermost matters for an interceptor that
 * gives up (a timeout): outside ours, it leaves a handler still running with the lock (ours keeps it
 * until the handler settles); inside ours, it would release the lock while the handler runs.
 *
 * It moves only the entry this module's decorators wrote (`SessionStateInterceptor`, from a class
 * to the handlers of that class that use the session, and to the end of each handler's list);
 * nothing else of a user's class is touched. The result depends on the classes alone, never on the
 * application: running it again (a second application of the process, started before, after or
 * while this one starts) finds it done and changes nothing, so applications need no ordering.
 *
 * Nest reads a handler's interceptors when it builds routes and gateways (`app.init()`) and
 * resolvers (GraphQLModule's `onModuleInit`); providers are constructed before either, when the
 * application is created, hence a factory.
 */
export const sessionInterceptorInnermost: FactoryProvider = {
  provide: SESSION_INTERCEPTOR_INNERMOST,
  inject: [DiscoveryService, MetadataScanner, SessionStateBehaviorResolver],
  useFactory: (discovery: DiscoveryService, scanner: MetadataScanner, behaviors: SessionStateBehaviorResolver): number => {
    let handlers = 0;
    for (const wrapper of [...discovery.getControllers(), ...discovery.getProviders()]) {
      // Classes only (a factory's or a value's metatype is not the class of its instance).
      const type = wrapper.metatype;
      if (typeof type !== 'function' || wrapper.inject || !type.prototype) continue;
      const onClass = interceptorsOf(type);
      if (onClass.includes(SessionStateInterceptor)) Reflect.defineMetadata(INTERCEPTORS_METADATA, withoutSession(onClass), type);
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function') continue;
        const own = interceptorsOf(handler);
        // By the handler's behaviour, not by whether the class still carries the entry: a base class
        // met earlier had it moved already, and its subclasses' own handlers use the session too.
        if (!own.includes(SessionStateInterceptor) && behaviors.resolveHandler(handler, type) === SessionStateBehavior.Disabled) continue;
        if (own.at(-1) !== SessionStateInterceptor)
          Reflect.defineMetadata(INTERCEPTORS_METADATA, [...withoutSession(own), SessionStateInterceptor], handler);
        handlers++;
      }
    }
    return handlers;
  },
};

function interceptorsOf(target: object): unknown[] {
  return (Reflect.getMetadata(INTERCEPTORS_METADATA, target) ?? []) as unknown[];
}

function withoutSession(interceptors: unknown[]): unknown[] {
  return interceptors.filter((interceptor) => interceptor !== SessionStateInterceptor);
}
