import { sessionErrorOf, type StoreFailureClass } from '../errors/session-error-catalog.js';
import type { StoreOperationOutcome } from './session-state-metrics.js';

export type { StoreFailureClass };

/** The metric outcome of a failed store call, and its failure class (none for a lost lock: that is a conflict, not a failure). See the error catalog. */
export function classifyStoreFailure(error: unknown): { outcome: StoreOperationOutcome; failure: StoreFailureClass | null } {
  const { storeOutcome, storeFailure } = sessionErrorOf(error);
  return { outcome: storeOutcome, failure: storeFailure };
}
