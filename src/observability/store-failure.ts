import {
  SessionStateCorruptError,
  SessionStateLockLostError,
  SessionStateStoreMisconfiguredError,
  SessionStateStoreUnavailableError,
  SessionStateTooLargeError,
} from '../errors/session-state.errors.js';
import type { StoreOperationOutcome } from './session-state-metrics.js';

/** What went wrong with a store call, for the log: `configuration` needs a fix, `outage` passes. */
export type StoreFailureClass = 'configuration' | 'outage' | 'too_large' | 'corrupt' | 'error';

/** The metric outcome of a failed store call, and its failure class (none for a lost lock: that is a conflict, not a failure). */
export function classifyStoreFailure(error: unknown): { outcome: StoreOperationOutcome; failure: StoreFailureClass | null } {
  if (error instanceof SessionStateLockLostError) return { outcome: 'condition_failed', failure: null };
  if (error instanceof SessionStateTooLargeError) return { outcome: 'too_large', failure: 'too_large' };
  if (error instanceof SessionStateCorruptError) return { outcome: 'corrupt', failure: 'corrupt' };
  if (error instanceof SessionStateStoreMisconfiguredError) return { outcome: 'unavailable', failure: 'configuration' };
  if (error instanceof SessionStateStoreUnavailableError) return { outcome: 'unavailable', failure: 'outage' };
  return { outcome: 'unavailable', failure: 'error' };
}
