import { Injectable, type ExecutionContext } from '@nestjs/common';
import { RESPONSE_PASSTHROUGH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import { SESSION_PARAM_METADATA, SESSION_STATE_BEHAVIOR_METADATA } from '../module/session-state.constants.js';
import { SessionStateBehavior, type ResolvedBehavior } from '../core/session-state-behavior.enum.js';
import { streamDecoratorOf } from '../transports/session-transports.js';

/**
 * Tells a handler's effective behavior: the handler's `@SessionState()`, else its controller's,
 * else Required when it takes `@Session()` and Disabled when it does not; a stream handler (`@Sse()`,
 * a GraphQL `@Subscription()`) that uses the session is ReadOnly. Cached per handler:
 * session-less routes pay one map lookup.
 */
@Injectable()
export class SessionStateBehaviorResolver {
  /** By class, then handler: a handler inherited by several classes may resolve differently in each. */
  private readonly cache = new WeakMap<Function, WeakMap<Function, ResolvedBehavior>>();

  private readonly answering = new WeakMap<Function, boolean>();
  private readonly passingThrough = new WeakMap<Function, boolean>();

  constructor(private readonly reflector: Reflector) {}

  /**
   * Whether `handler` (a route of `type`) may send its answer itself: it takes `@Res()` (with or
   * without passthrough) or `@Next()`, by the route's arguments Nest keeps on the class. Cached.
   */
  answersItself(handler: Function, type: Function): boolean {
    let answers = this.answering.get(handler);
    if (answers === undefined) {
      const method = methodOf(type, handler);
      const args = method && (Reflect.getOwnMetadata(ROUTE_ARGS_METADATA, method.declaredBy, method.name) as object | undefined);
      answers = Object.keys(args ?? {}).some((key) => RESPONSE_PARAM_TYPES.includes(key.split(':')[0]!));
      this.answering.set(handler, answers);
    }
    return answers;
  }

  /**
   * Whether `handler` takes `@Res({ passthrough: true })`: Nest sends what it returns, once its result is
   * complete (as Nest reads it: metadata on the class whose method it is). Cached.
   */
  passesAnswerThrough(handler: Function, type: Function): boolean {
    let passes = this.passingThrough.get(handler);
    if (passes === undefined) {
      const method = methodOf(type, handler);
      passes = method !== undefined && Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, method.declaredBy, method.name) === true;
      this.passingThrough.set(handler, passes);
    }
    return passes;
  }

  resolve(context: ExecutionContext): ResolvedBehavior {
    return this.resolveHandler(context.getHandler(), context.getClass());
  }

  /** The behavior of `handler`, a method of `type`. */
  resolveHandler(handler: Function, type: Function): ResolvedBehavior {
    let ofClass = this.cache.get(type);
    if (!ofClass) this.cache.set(type, (ofClass = new WeakMap()));
    let behavior = ofClass.get(handler);
    if (behavior === undefined) {
      const declared = this.reflector.getAllAndOverride<SessionStateBehavior | undefined>(SESSION_STATE_BEHAVIOR_METADATA, [handler, type]);
      behavior =
        declared && declared !== SessionStateBehavior.Default
          ? (declared as ResolvedBehavior)
          : takesSession(handler, type)
            ? SessionStateBehavior.Required
            : SessionStateBehavior.Disabled;
      // A stream (@Sse(), a GraphQL @Subscription()) reads a snapshot: never a lock held for the
      // stream's length. Decided here, so a guard's SessionStateAccessor sees it too.
      if (behavior !== SessionStateBehavior.Disabled && streamDecoratorOf(handler)) behavior = SessionStateBehavior.ReadOnly;
      ofClass.set(handler, behavior);
    }
    return behavior;
  }
}

/** `RouteParamtypes.RESPONSE` and `.NEXT` (route argument keys are `type:index`); the enum is not in @nestjs/common's public API. */
const RESPONSE_PARAM_TYPES = ['1', '2'];

/**
 * Whether `handler` takes `@Session()`: by its own metadata, or, when a method decorator applied
 * after `@Session()` replaced the function without copying its metadata (a logging or timing
 * wrapper, `descriptor.value = function (...args) { ... }`), by what `@Session()` recorded on the
 * class under the method's name, as Nest does for the route's arguments.
 */
export function takesSession(handler: Function, type: Function): boolean {
  if (Reflect.getMetadata(SESSION_PARAM_METADATA, handler) !== undefined) return true;
  const method = methodOf(type, handler);
  return method !== undefined && Reflect.getOwnMetadata(SESSION_PARAM_METADATA, method.declaredBy, method.name) !== undefined;
}

/** The name of `handler` on `type` (or the class it inherits it from), and that class. */
export function methodOf(type: Function, handler: Function): { declaredBy: Function; name: string } | undefined {
  for (let prototype = type.prototype as object | null; prototype && prototype !== Object.prototype; prototype = Object.getPrototypeOf(prototype)) {
    for (const name of Object.getOwnPropertyNames(prototype)) {
      if (Object.getOwnPropertyDescriptor(prototype, name)?.value === handler)
        return { declaredBy: (prototype as { constructor: Function }).constructor, name };
    }
  }
  return undefined;
}
