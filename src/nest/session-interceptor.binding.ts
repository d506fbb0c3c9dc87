import type { FactoryProvider } from '@nestjs/common';
import { GUARDS_METADATA, INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { SessionStateBehavior } from '../core/session-state-behavior.enum.js';
import { SESSION_STATE_OPTIONS } from '../module/session-state.constants.js';
import type { ResolvedSessionStateOptions } from '../module/session-state.options.js';
import { streamDecoratorOf } from '../transports/session-transports.js';
import { methodOf, SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateGuard } from './session-state.guard.js';
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
 * A route bound to `SessionStateGuard` by the app (`@UseGuards(SessionStateGuard)` on it or its
 * controller: the explicit choice of the guard binding) gets no session interceptor: the guard
 * takes the session and completes it at the answer. Where that cannot apply, startup fails, naming
 * the handler (see `refuseGuardBinding`). Decided by the classes alone too.
 *
 * Nest reads a handler's interceptors when it builds routes and gateways (`app.init()`) and
 * resolvers (GraphQLModule's `onModuleInit`); providers are constructed before either, when the
 * application is created, hence a factory.
 */
export const sessionInterceptorInnermost: FactoryProvider = {
  provide: SESSION_INTERCEPTOR_INNERMOST,
  inject: [DiscoveryService, MetadataScanner, SessionStateBehaviorResolver, SESSION_STATE_OPTIONS],
  useFactory: (
    discovery: DiscoveryService,
    scanner: MetadataScanner,
    behaviors: SessionStateBehaviorResolver,
    options: ResolvedSessionStateOptions,
  ): number => {
    let handlers = 0;
    const controllers = new Set(discovery.getControllers());
    for (const wrapper of [...controllers, ...discovery.getProviders()]) {
      // Classes only (a factory's or a value's metatype is not the class of its instance).
      const type = wrapper.metatype;
      if (typeof type !== 'function' || wrapper.inject || !type.prototype) continue;
      const onClass = interceptorsOf(type);
      if (onClass.includes(SessionStateInterceptor)) Reflect.defineMetadata(INTERCEPTORS_METADATA, withoutSession(onClass), type);
      const classGuarded = guardedBySession(type);
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function') continue;
        const own = interceptorsOf(handler);
        const usesSession = behaviors.resolveHandler(handler, type) !== SessionStateBehavior.Disabled;
        if (usesSession && (classGuarded || guardedBySession(handler))) {
          refuseGuardBinding(type, name, handler, controllers.has(wrapper), behaviors, options);
          // Every class that has this handler has the guard only when the class declaring it (or the
          // handler itself) has it; inherited from a class without it, the handler keeps its
          // interceptor, which takes the guard's session over (correct, just not faster).
          if (guardedBySession(handler) || guardedBySession(methodOf(type, handler)?.declaredBy ?? type)) {
            if (own.includes(SessionStateInterceptor)) Reflect.defineMetadata(INTERCEPTORS_METADATA, withoutSession(own), handler);
            continue;
          }
        }
        // By the handler's behaviour, not by whether the class still carries the entry: a base class
        // met earlier had it moved already, and its subclasses' own handlers use the session too.
        if (!own.includes(SessionStateInterceptor) && !usesSession) continue;
        if (own.at(-1) !== SessionStateInterceptor)
          Reflect.defineMetadata(INTERCEPTORS_METADATA, [...withoutSession(own), SessionStateInterceptor], handler);
        handlers++;
      }
    }
    return handlers;
  },
};

/**
 * Where the guard binding cannot keep the session's promises, startup fails: the guard completes the
 * session at the HTTP answer, so a handler that has none (a gateway's, a resolver's), streams
 * (`@Sse()`), or sends it itself (`@Res()`, `@Next()`: the handler may go on after it) cannot be
 * served, nor a `saveOnError` predicate (the answer carries a status, not the error).
 */
function refuseGuardBinding(
  type: Function,
  name: string,
  handler: Function,
  isController: boolean,
  behaviors: SessionStateBehaviorResolver,
  options: ResolvedSessionStateOptions,
): void {
  const where = `${type.name}.${name}()`;
  const why = !isController
    ? 'it is not an HTTP controller route (a WebSocket gateway or GraphQL resolver keeps the session interceptor)'
    : streamDecoratorOf(handler)
      ? `it is a stream (${streamDecoratorOf(handler)}), which has no single answer to complete the session at`
      : behaviors.answersItself(handler, type)
        ? 'it takes @Res() or @Next() and may go on after it answered'
        : typeof options.saveOnError === 'function'
          ? "saveOnError is a predicate, which needs the handler's error (the guard sees only the answer's status: use false or 'client-errors')"
          : undefined;
  if (why) throw new TypeError(`SessionStateGuard cannot serve ${where}: ${why}. Remove @UseGuards(SessionStateGuard) there (see docs/USAGE.md).`);
}

/** Whether the app bound `SessionStateGuard` to `target` (a class or a handler). */
function guardedBySession(target: object): boolean {
  return ((Reflect.getMetadata(GUARDS_METADATA, target) ?? []) as unknown[]).includes(SessionStateGuard);
}

/** The interceptors bound to `target` (a class or a handler), as `@UseInterceptors()` records them. */
export function interceptorsOf(target: object): unknown[] {
  return (Reflect.getMetadata(INTERCEPTORS_METADATA, target) ?? []) as unknown[];
}

function withoutSession(interceptors: unknown[]): unknown[] {
  return interceptors.filter((interceptor) => interceptor !== SessionStateInterceptor);
}
