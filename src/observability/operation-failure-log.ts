import type { Logger } from '@nestjs/common';
import { isStoreError } from '../errors/store-error-origin.js';
import { loggableMessage } from './store-failure-log.js';
import { classifyStoreFailure } from './store-failure.js';

/**
 * Logs that a step of the module's own failed (`what`: "Releasing a session lock"), unless its error is a
 * store failure the measured store has logged already: `StoreFailureLog` counts those and writes one line
 * per kind and interval, where a line per failed request would flood the log during an outage.
 * `secrets`: the ids the line must not show.
 */
export function logOperationFailure(logger: Pick<Logger, 'error'>, what: string, error: unknown, secrets: readonly (string | undefined)[]): void {
  if (isStoreError(error) && classifyStoreFailure(error).failure !== null) return;
  logger.error(
    `${what} failed: ${loggableMessage(
      error,
      secrets.filter((id) => id !== undefined),
    )}`,
  );
}
