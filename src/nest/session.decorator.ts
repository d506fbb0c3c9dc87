import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { SessionStateError } from '../errors/session-state.errors.js';
import { requireTransport } from '../transports/session-transports.js';
import { SESSION_PARAM_METADATA } from '../module/session-state.constants.js';
import { bindSessionInterceptor } from './session-interceptor.binding.js';
import type { HttpSessionState } from '../session/http-session-state.js';

/** TypeScript's emitted parameter types (`emitDecoratorMetadata`), as Nest reads them. */
const PARAMTYPES_METADATA = 'design:paramtypes';

/**
 * Injects the request's `HttpSessionState` (HTTP controllers, GraphQL resolvers, WebSocket gateways).
 * A handler that takes it is `Required` (read-write, locked) unless `@SessionState()` says otherwise;
 * see docs/TRANSPORTS.md for the defaults of GraphQL queries, WebSocket messages and `@Sse()` streams.
 */
export const Session = createParamDecorator(
  (_data: unknown, context: ExecutionContext): HttpSessionState => {
    const transport = requireTransport(context); // an unsupported context type throws, naming it
    const lease = transport.lease(context);
    if (!lease) throw new SessionStateError(`@Session(): ${transport.noSession}`);
    return lease.session;
  },
  // Marks the handler itself as using the session (and which arguments take it), and binds the
  // session's interceptor to it: a handler without a session gets none (zero store calls, and none
  // of Nest's interceptor pipeline).
  [
    (target, key, index) => {
      if (key === undefined) return;
      const handler = (target as Record<string | symbol, object>)[key]!;
      const indexes = (Reflect.getMetadata(SESSION_PARAM_METADATA, handler) ?? []) as number[];
      Reflect.defineMetadata(SESSION_PARAM_METADATA, [...indexes, index], handler);
      bindSessionInterceptor(handler);
      // Also on the class, by method name (where Nest keeps the route's arguments): a method decorator
      // applied after this one may replace the function without copying its metadata (a logging or
      // timing wrapper). The class-level interceptor reaches the replacement; the startup moves it to
      // the handlers that use the session (see the behavior resolver).
      const type = (target as { constructor: Function }).constructor;
      const ofClass = (Reflect.getOwnMetadata(SESSION_PARAM_METADATA, type, key) ?? []) as number[];
      Reflect.defineMetadata(SESSION_PARAM_METADATA, [...ofClass, index], type, key);
      bindSessionInterceptor(type);
      passedUntouchedByPipes(target, key, index);
    },
  ],
);

/**
 * The session is a service object, not a DTO: pipes that build and validate their value from the
 * parameter's declared type (a global `ValidationPipe({ validateCustomDecorators: true })`, which
 * has class-transformer construct `HttpSessionState` with no arguments) must pass it untouched.
 * Nest hands pipes the parameter's type from TypeScript's `design:paramtypes` (already defined when
 * a parameter decorator runs); declared as `Object` there, which ValidationPipe (as other
 * type-driven pipes) skips, the session reaches the handler as it is.
 */
function passedUntouchedByPipes(target: object, key: string | symbol, index: number): void {
  const types = Reflect.getOwnMetadata(PARAMTYPES_METADATA, target, key) as unknown[] | undefined;
  if (!types || types[index] === Object) return;
  const declared = [...types];
  declared[index] = Object;
  Reflect.defineMetadata(PARAMTYPES_METADATA, declared, target, key);
}
