import {
  ConflictException,
  GoneException,
  HttpException,
  InternalServerErrorException,
  PayloadTooLargeException,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { SessionExchange } from '../../core/session-exchange.js';
import { sessionErrorOf } from '../../errors/session-error-catalog.js';

const EXCEPTIONS: Record<number, new (message: string, options: { cause: unknown }) => HttpException> = {
  409: ConflictException,
  410: GoneException,
  413: PayloadTooLargeException,
  500: InternalServerErrorException,
  503: ServiceUnavailableException,
};

/**
 * A session error as an HTTP answer, by the error catalog: its status, its client message and
 * `Retry-After`. Errors the module does not answer (the application's, a programming error) pass
 * through unchanged, to the application's exception filters (Nest answers them 500 and logs them).
 */
export function toHttpException(error: unknown, exchange: SessionExchange): unknown {
  if (error instanceof HttpException) return error;
  const entry = sessionErrorOf(error);
  const Exception = entry.status === undefined ? undefined : EXCEPTIONS[entry.status];
  if (!Exception) return error;
  if (entry.retryAfterSeconds !== undefined) exchange.setHeader('Retry-After', String(entry.retryAfterSeconds));
  // The cause stays server-side (a store's error was logged, redacted, by the store failure log).
  return new Exception(entry.message!, { cause: error });
}
