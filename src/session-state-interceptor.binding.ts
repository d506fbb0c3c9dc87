import type { FactoryProvider } from '@nestjs/common';
import { INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { SessionStateBehavior } from './session-state-behavior.enum.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateInterceptor } from './session-state.interceptor.js';

/**
 * Binds the session interceptor to a handler (or to every handler of a class), as
 * `@UseInterceptors(SessionStateInterceptor)` would, once. `@Session()` and `@SessionState()` do it,
 * so that only the handlers that use the session run it: one that does not has no interceptor at
 * all and does not even pay Nest's interceptor pipeline (an Observable chain per request, about a
 * sixth of a trivial route's throughput, measured). Nest makes the interceptor in the handler's module.
 */
export function bindSessionInterceptor(target: object): void {
  const bound = interceptorsOf(target);
  if (!bound.includes(SessionStateInterceptor)) Reflect.defineMetadata(INTERCEPTORS_METADATA, [...bound, SessionStateInterceptor], target);
}

/** Token of the (valueless) provider whose construction puts the interceptor innermost. */
export const SESSION_INTERCEPTOR_INNERMOST = Symbol('nestjs-session-state:interceptor-innermost');

/**
 * Makes the session interceptor the innermost of every handler it is bound to: after the app's
 * global, controller and method interceptors. Decorators alone cannot: `@Session()` (a parameter
 * decorator) runs before the method's `@UseInterceptors()`, and a class's `@SessionState()` binds at
 * class level, outside every method-level interceptor. Innermost matters for an interceptor that
 * gives up (a timeout): outside ours, it leaves a handler still running with the lock (ours keeps it
 * until the handler settles); inside ours, it would release the lock while the handler runs.
 *
 * Nest reads a handler's interceptors when it builds routes and gateways (`app.init()`) and
 * resolvers (GraphQLModule's `onModuleInit`); providers are constructed before either, when the
 * application is created, hence a factory. The reordering is the same for every application of
 * the process, so a second one finds it done.
 */
export const sessionInterceptorInnermost: FactoryProvider = {
  provide: SESSION_INTERCEPTOR_INNERMOST,
  inject: [DiscoveryService, MetadataScanner, SessionStateBehaviorResolver],
  useFactory: (discovery: DiscoveryService, scanner: MetadataScanner, behaviors: SessionStateBehaviorResolver) => {
    for (const wrapper of [...discovery.getControllers(), ...discovery.getProviders()]) {
      // Classes only (a factory's or a value's metatype is not the class of its instance).
      const type = wrapper.metatype;
      if (typeof type !== 'function' || wrapper.inject || !type.prototype) continue;
      const onClass = interceptorsOf(type);
      const boundToClass = onClass.includes(SessionStateInterceptor);
      if (boundToClass) Reflect.defineMetadata(INTERCEPTORS_METADATA, withoutSession(onClass), type);
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function') continue;
        const own = interceptorsOf(handler);
        if (!own.includes(SessionStateInterceptor) && !(boundToClass && behaviors.resolveHandler(handler, type) !== SessionStateBehavior.Disabled)) continue;
        Reflect.defineMetadata(INTERCEPTORS_METADATA, [...withoutSession(own), SessionStateInterceptor], handler);
      }
    }
    return true;
  },
};

function interceptorsOf(target: object): unknown[] {
  return (Reflect.getMetadata(INTERCEPTORS_METADATA, target) ?? []) as unknown[];
}

function withoutSession(interceptors: unknown[]): unknown[] {
  return interceptors.filter((interceptor) => interceptor !== SessionStateInterceptor);
}
