import {
  ConflictException,
  HttpException,
  PayloadTooLargeException,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { SessionExchange } from '../core/session-exchange.js';
import {
  SessionStateLockLostError,
  SessionStateQueueFullError,
  SessionStateStoreUnavailableError,
  SessionStateTooLargeError,
  SessionStateWaitAbortedError,
} from './session-state.errors.js';

/** The one place where the module's errors become HTTP answers. Others pass through unchanged. */
export function toHttpException(error: unknown, exchange: SessionExchange): unknown {
  if (error instanceof HttpException || !(error instanceof Error)) return error;
  // The cause stays server-side: store errors can name tables and carry AWS error text.
  const options = { cause: error };
  if (error instanceof SessionStateQueueFullError) {
    exchange.setHeader('Retry-After', String(error.retryAfterSeconds));
    return new ServiceUnavailableException(error.message, options);
  }
  if (error instanceof SessionStateStoreUnavailableError || error instanceof SessionStateWaitAbortedError) {
    return new ServiceUnavailableException('Session state is unavailable; try again.', options);
  }
  if (error instanceof SessionStateTooLargeError) return new PayloadTooLargeException(error.message, options);
  if (error instanceof SessionStateLockLostError) return new ConflictException(error.message, options);
  return error;
}
