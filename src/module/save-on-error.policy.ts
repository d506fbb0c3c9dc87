import { HttpException, type Logger } from '@nestjs/common';
import { loggableMessage } from '../observability/store-failure-log.js';

/**
 * Whether the session changes of a request whose handler (or a pipe) threw are saved:
 * - `false` (default, ASP.NET's rule): every error discards them;
 * - `'client-errors'`: an `HttpException` with a status below 500 (a 401 after counting a failed
 *   login, a 400 after remembering the input) saves them; anything else discards them;
 * - a predicate: saves them when it answers `true` for the error.
 */
export type SaveOnError = false | 'client-errors' | ((error: unknown) => boolean);

export function isSaveOnError(value: unknown): value is SaveOnError {
  return value === false || value === 'client-errors' || typeof value === 'function';
}

/** The decision for one error. A predicate that throws discards (and is logged): never a second failure. */
export function shouldSaveOnError(policy: SaveOnError, error: unknown, logger: Pick<Logger, 'error'>): boolean {
  if (policy === false) return false;
  if (policy === 'client-errors') return error instanceof HttpException && error.getStatus() < 500;
  try {
    return policy(error) === true;
  } catch (predicateError) {
    logger.error(`saveOnError threw; the session changes are discarded: ${loggableMessage(predicateError)}`);
    return false;
  }
}
