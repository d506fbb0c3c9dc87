import type { FactoryProvider } from '@nestjs/common';
import { GUARDS_METADATA, INTERCEPTORS_METADATA, METHOD_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { isWrappedHandler, wrapSessionHandler } from './http/session-handler.js';
import { SessionStateGuard } from './http/session-state.guard.js';
import { SESSION_PARAM_INDEXES_METADATA } from './session-state.constants.js';
import { SessionStateBehavior } from './session-state-behavior.enum.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateInterceptor } from './session-state.interceptor.js';
import { isSseHandler } from './sse/sse-session.js';

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

/**
 * Binds the session's guard to a handler that takes `@Session()`, for the startup to keep on a
 * route that runs its session in its handler (see `http/session-handler.ts`). Bound by the
 * decorator, not at startup: Nest makes a handler's guards in its module only if they were there
 * when it scanned the modules.
 */
export function bindSessionGuard(handler: object): void {
  const bound = guardsOf(handler);
  if (!bound.includes(SessionStateGuard)) Reflect.defineMetadata(GUARDS_METADATA, [...bound, SessionStateGuard], handler);
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
 * A controller route whose only interceptor would be the session's runs the session in its handler
 * instead (see `http/session-handler.ts`): its interceptor is unbound, its guard kept, and the
 * method wrapped. Any interceptor costs Nest's pipeline per request; a guard and a wrapper do not.
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
    const controllers = discovery.getControllers();
    for (const wrapper of [...controllers, ...discovery.getProviders()]) {
      // Classes only (a factory's or a value's metatype is not the class of its instance).
      const type = wrapper.metatype;
      if (typeof type !== 'function' || wrapper.inject || !type.prototype) continue;
      const onClass = interceptorsOf(type);
      const boundToClass = onClass.includes(SessionStateInterceptor);
      if (boundToClass) Reflect.defineMetadata(INTERCEPTORS_METADATA, withoutSession(onClass), type);
      const isController = controllers.includes(wrapper);
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function') continue;
        const own = interceptorsOf(handler);
        if (!own.includes(SessionStateInterceptor) && !(boundToClass && behaviors.resolveHandler(handler, type) !== SessionStateBehavior.Disabled)) continue;
        const others = withoutSession(own);
        const guards = guardsOf(handler).filter((guard) => guard !== SessionStateGuard);
        const sessionIndexes = Reflect.getMetadata(SESSION_PARAM_INDEXES_METADATA, handler) as number[] | undefined;
        if (isController && sessionIndexes && others.length === 0 && withoutSession(onClass).length === 0 && runsSessionItself(type, name, handler)) {
          // No interceptor at all: the handler runs its session (see http/session-handler.ts); the
          // session's guard, last of the route's guards, tells it the module's lifecycle.
          Reflect.defineMetadata(INTERCEPTORS_METADATA, others, handler);
          Reflect.defineMetadata(GUARDS_METADATA, [...guards, SessionStateGuard], handler);
          const descriptor = Object.getOwnPropertyDescriptor(prototype, name)!;
          Object.defineProperty(prototype, name, { ...descriptor, value: wrapSessionHandler(handler, sessionIndexes) });
          continue;
        }
        Reflect.defineMetadata(GUARDS_METADATA, guards, handler);
        Reflect.defineMetadata(INTERCEPTORS_METADATA, [...others, SessionStateInterceptor], handler);
      }
    }
    return true;
  },
};

/**
 * Whether a controller method can run its session itself: an HTTP route declared by the class
 * itself (an inherited one is shared with classes that may bind it otherwise), not a stream
 * (`@Sse()`), and not one that sends its response itself (`@Res()`, `@Next()`), whose answer may
 * go out before it settles.
 */
function runsSessionItself(type: Function, name: string, handler: Function): boolean {
  if (!Object.hasOwn(type.prototype as object, name) || isWrappedHandler(handler)) return false;
  if (Reflect.getMetadata(METHOD_METADATA, handler) === undefined || isSseHandler(handler)) return false;
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, type, name) ?? {}) as Record<string, unknown>;
  return !Object.keys(args).some((key) => RESPONSE_PARAM_TYPES.includes(key.split(':')[0]!));
}

/** `RouteParamtypes.RESPONSE` and `.NEXT` (route argument keys are `type:index`); the enum is not in @nestjs/common's public API. */
const RESPONSE_PARAM_TYPES = ['1', '2'];

function guardsOf(target: object): unknown[] {
  return (Reflect.getMetadata(GUARDS_METADATA, target) ?? []) as unknown[];
}

function interceptorsOf(target: object): unknown[] {
  return (Reflect.getMetadata(INTERCEPTORS_METADATA, target) ?? []) as unknown[];
}

function withoutSession(interceptors: unknown[]): unknown[] {
  return interceptors.filter((interceptor) => interceptor !== SessionStateInterceptor);
}
