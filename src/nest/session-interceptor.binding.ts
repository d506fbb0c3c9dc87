import { Scope, type FactoryProvider } from '@nestjs/common';
import { GUARDS_METADATA, INTERCEPTORS_METADATA, METHOD_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, type ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { isWrappedHandler, wrapSessionHandler } from '../transports/http/session-handler.js';
import { SessionStateGuard } from '../transports/http/session-state.guard.js';
import { SESSION_PARAM_METADATA } from '../module/session-state.constants.js';
import { SessionStateBehavior } from '../core/session-state-behavior.enum.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateInterceptor } from './session-state.interceptor.js';
import { isSseHandler } from '../transports/sse/sse-session.js';

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

/** Token of the provider whose construction puts the interceptor innermost; its value: the routes that can run their session in the handler. */
export const SESSION_INTERCEPTOR_INNERMOST = Symbol('nestjs-session-state:interceptor-innermost');

/** The controller methods wrapped to run their session (see `http/session-handler.ts`), and the application's controllers. */
export interface SessionHandlerRoutes {
  readonly routes: readonly { readonly handler: Function; readonly name: string }[];
  readonly controllers: readonly InstanceWrapper[];
}

/**
 * A method that no route uses, on every class with wrapped methods, carrying the session's guard and
 * interceptor: Nest makes a module's guards and interceptors when it scans the module, only those in
 * the metadata then, and the wrapped routes' own metadata changes from one application to another.
 */
const ENHANCERS_METHOD = 'nestjs-session-state:enhancers';

/**
 * Makes the session interceptor the innermost of every handler it is bound to: after the app's
 * global, controller and method interceptors. Decorators alone cannot: `@Session()` (a parameter
 * decorator) runs before the method's `@UseInterceptors()`, and a class's `@SessionState()` binds at
 * class level, outside every method-level interceptor. Innermost matters for an interceptor that
 * gives up (a timeout): outside ours, it leaves a handler still running with the lock (ours keeps it
 * until the handler settles); inside ours, it would release the lock while the handler runs.
 *
 * A controller route that could do without any interceptor (none of its own or its class's) has its
 * method wrapped, once, to run the session itself (see `http/session-handler.ts`); whether it does
 * is decided per application, when its routes are built (`bindSessionHandlerRoutes`).
 *
 * Nest reads a handler's interceptors when it builds routes and gateways (`app.init()`) and
 * resolvers (GraphQLModule's `onModuleInit`); providers are constructed before either, when the
 * application is created, hence a factory. The reordering is the same for every application of
 * the process, so a second one finds it done.
 */
export const sessionInterceptorInnermost: FactoryProvider = {
  provide: SESSION_INTERCEPTOR_INNERMOST,
  inject: [DiscoveryService, MetadataScanner, SessionStateBehaviorResolver],
  useFactory: (discovery: DiscoveryService, scanner: MetadataScanner, behaviors: SessionStateBehaviorResolver): SessionHandlerRoutes => {
    const routes: { handler: Function; name: string }[] = [];
    const controllers = discovery.getControllers();
    for (const wrapper of [...controllers, ...discovery.getProviders()]) {
      // Classes only (a factory's or a value's metatype is not the class of its instance).
      const type = wrapper.metatype;
      if (typeof type !== 'function' || wrapper.inject || !type.prototype) continue;
      const onClass = interceptorsOf(type);
      const boundToClass = onClass.includes(SessionStateInterceptor);
      if (boundToClass) Reflect.defineMetadata(INTERCEPTORS_METADATA, withoutSession(onClass), type);
      // A request-scoped controller's route is built per request, from the metadata of that moment:
      // it keeps the interceptor. So does a class with interceptors of its own.
      const mayWrap = controllers.includes(wrapper) && wrapper.scope !== Scope.REQUEST && withoutSession(onClass).length === 0;
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function' || name === ENHANCERS_METHOD) continue;
        // Wrapped for an application created earlier: it stays a route that can run its session.
        if (isWrappedHandler(handler)) {
          if (controllers.includes(wrapper) && Object.hasOwn(prototype, name)) routes.push({ handler, name });
          continue;
        }
        const own = interceptorsOf(handler);
        if (!own.includes(SessionStateInterceptor) && !(boundToClass && behaviors.resolveHandler(handler, type) !== SessionStateBehavior.Disabled)) continue;
        const others = withoutSession(own);
        Reflect.defineMetadata(GUARDS_METADATA, guardsOf(handler).filter((guard) => guard !== SessionStateGuard), handler);
        Reflect.defineMetadata(INTERCEPTORS_METADATA, [...others, SessionStateInterceptor], handler);
        const sessionIndexes = Reflect.getMetadata(SESSION_PARAM_METADATA, handler) as number[] | undefined;
        if (!mayWrap || !sessionIndexes || others.length > 0 || !runsSessionItself(type, name, handler, sessionIndexes)) continue;
        const descriptor = Object.getOwnPropertyDescriptor(prototype, name)!;
        const wrapped = wrapSessionHandler(handler, sessionIndexes);
        Object.defineProperty(prototype, name, { ...descriptor, value: wrapped });
        carryEnhancers(prototype);
        routes.push({ handler: wrapped, name });
      }
    }
    const handlerRoutes = { routes, controllers };
    bindSessionHandlerRoutes(handlerRoutes, 'both');
    return handlerRoutes;
  },
};

/**
 * How the wrapped routes run their session, set for one application just before Nest builds its
 * routes (after `useGlobalInterceptors()`): `'handler'`, with the session's guard, when the
 * application has no global interceptor either, so that no interceptor runs for the route at all;
 * `'interceptor'`, innermost, as every other route, when it has one: an interceptor that gives up (a
 * timeout, a `retry()`) must be outer to the session's, which stops the wait and discards the
 * changes when it leaves. A route also keeps the interceptor if a controller of the application that
 * routes it is request-scoped (Nest builds its route per request, from the metadata of that moment)
 * or has interceptors of its own class (a subclass inheriting the method). `'both'` between
 * applications (the metadata is the process's): then the interceptor runs the session, and the
 * handler passes it through.
 */
export function bindSessionHandlerRoutes({ routes, controllers }: SessionHandlerRoutes, mode: 'handler' | 'interceptor' | 'both'): void {
  for (const { handler, name } of routes) {
    const routeMode = mode === 'handler' && !controllers.every((controller) => allowsHandlerRun(controller, name, handler)) ? 'interceptor' : mode;
    const guards = guardsOf(handler).filter((guard) => guard !== SessionStateGuard);
    const interceptors = withoutSession(interceptorsOf(handler));
    Reflect.defineMetadata(GUARDS_METADATA, routeMode === 'interceptor' ? guards : [...guards, SessionStateGuard], handler);
    Reflect.defineMetadata(INTERCEPTORS_METADATA, routeMode === 'handler' ? interceptors : [...interceptors, SessionStateInterceptor], handler);
  }
}

/** Whether `controller` (if it routes `handler` as `name`) lets the handler run its session. */
function allowsHandlerRun(controller: InstanceWrapper, name: string, handler: Function): boolean {
  const type = controller.metatype as Function | null;
  if (typeof type !== 'function' || (type.prototype as Record<string, unknown> | undefined)?.[name] !== handler) return true;
  // The session's guard must have been made in the controller's module (it is, unless its scan
  // missed it): a guard Nest did not make is silently left out of the route.
  const guardMade = controller.host?.injectables.has(SessionStateGuard) === true;
  return guardMade && controller.isDependencyTreeStatic() && withoutSession(interceptorsOf(type)).length === 0;
}

/**
 * How many global interceptors the application has (`useGlobalInterceptors()`, `APP_INTERCEPTOR`),
 * read from Nest's application config through a module of the container; undefined if Nest does not
 * expose it there (a later version): the caller then assumes some.
 */
export function globalInterceptorCount(modules: ModulesContainer): number | undefined {
  type Config = { getGlobalInterceptors?(): unknown[]; getGlobalRequestInterceptors?(): unknown[] };
  const module = modules.values().next().value as { container?: { applicationConfig?: Config } } | undefined;
  const config = module?.container?.applicationConfig;
  if (typeof config?.getGlobalInterceptors !== 'function') return undefined;
  return config.getGlobalInterceptors().length + (config.getGlobalRequestInterceptors?.().length ?? 0);
}

/** Puts the unrouted method that carries the session's guard and interceptor on `prototype` (see `ENHANCERS_METHOD`). */
function carryEnhancers(prototype: object): void {
  if (Object.hasOwn(prototype, ENHANCERS_METHOD)) return;
  const enhancers = () => {};
  Reflect.defineMetadata(GUARDS_METADATA, [SessionStateGuard], enhancers);
  Reflect.defineMetadata(INTERCEPTORS_METADATA, [SessionStateInterceptor], enhancers);
  // Writable: code that re-assigns every method of a class (auto-binding, instrumentation) must not throw.
  Object.defineProperty(prototype, ENHANCERS_METHOD, { value: enhancers, writable: true, configurable: true });
}

/**
 * Whether a controller method can run its session itself: an HTTP route declared by the class
 * itself (an inherited one is shared with classes that may bind it otherwise), not a stream
 * (`@Sse()`), not one that sends its response itself (`@Res()`, `@Next()`: its answer may go out
 * before it settles), and whose `@Session()` has no pipe of its own (a pipe would see what the
 * handler is given before its session is loaded).
 */
function runsSessionItself(type: Function, name: string, handler: Function, sessionIndexes: readonly number[]): boolean {
  if (!Object.hasOwn(type.prototype as object, name)) return false;
  if (Reflect.getMetadata(METHOD_METADATA, handler) === undefined || isSseHandler(handler)) return false;
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, type, name) ?? {}) as Record<string, { index?: number; pipes?: unknown[] }>;
  return Object.entries(args).every(
    ([key, arg]) => !RESPONSE_PARAM_TYPES.includes(key.split(':')[0]!) && !(sessionIndexes.includes(arg.index!) && (arg.pipes?.length ?? 0) > 0),
  );
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
