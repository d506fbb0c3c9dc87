import { Injectable, RequestTimeoutException, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { catchError, throwError, timeout, TimeoutError, type Observable } from 'rxjs';

/**
 * NestJS's documented timeout interceptor (`timeout()` → 408), applied when a request asks for it
 * with an `x-timeout-ms` header. Registered as an app interceptor, it is outer to the module's.
 */
@Injectable()
export class TimeoutInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const ms = Number(context.switchToHttp().getRequest().headers['x-timeout-ms'] ?? 0);
    if (!ms) return next.handle();
    return next.handle().pipe(
      timeout(ms),
      catchError((error: unknown) => throwError(() => (error instanceof TimeoutError ? new RequestTimeoutException() : error))),
    );
  }
}

export const withOuterTimeout = { providers: [{ provide: APP_INTERCEPTOR, useClass: TimeoutInterceptor }] };
