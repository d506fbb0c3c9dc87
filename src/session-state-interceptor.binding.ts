import { INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import { SessionStateInterceptor } from './session-state.interceptor.js';

/**
 * Binds the session interceptor to a handler (or to every handler of a class), as
 * `@UseInterceptors(SessionStateInterceptor)` would, once. `@Session()` and `@SessionState()` do it,
 * so that only the handlers that use the session run it: one that does not has no interceptor at
 * all and does not even pay Nest's interceptor pipeline (an Observable chain per request, about a
 * sixth of a trivial route's throughput, measured). Nest makes the interceptor in the handler's
 * module; it is the innermost, so the app's own interceptors (a timeout, a cache) run around it.
 */
export function bindSessionInterceptor(target: object): void {
  const bound = (Reflect.getMetadata(INTERCEPTORS_METADATA, target) ?? []) as unknown[];
  if (!bound.includes(SessionStateInterceptor)) Reflect.defineMetadata(INTERCEPTORS_METADATA, [...bound, SessionStateInterceptor], target);
}
