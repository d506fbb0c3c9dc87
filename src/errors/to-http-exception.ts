import {
  ConflictException,
  HttpException,
  InternalServerErrorException,
  PayloadTooLargeException,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { SessionExchange } from '../core/session-exchange.js';
import { isStoreError } from '../observability/store-failure-log.js';
import {
  SessionStateLockLostError,
  SessionStateQueueFullError,
  SessionStateStoreUnavailableError,
  SessionStateTooLargeError,
  SessionStateWaitAbortedError,
} from './session-state.errors.js';

/** The answer to a request whose session failed at the store for a reason the module cannot name. */
export const STORE_FAILED_MESSAGE = 'Session state failed; the changes of this request were not saved.';

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
  // Any other error of the store (a custom store's own): answered here, as Nest would (500), but
  // without Nest logging its message, which may name the session's key; the store-failure log has
  // logged it, redacted.
  if (isStoreError(error)) return new InternalServerErrorException(STORE_FAILED_MESSAGE, options);
  return error;
}
