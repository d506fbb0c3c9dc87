import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { SessionStateError, SessionStateStoreUnavailableError } from '../../errors/session-state.errors.js';

/** Modelled DynamoDB errors that mean "busy or failing", not "your request is wrong". */
const TRANSIENT_ERROR_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
]);

interface SdkErrorShape {
  name?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

export function isConditionFailure(error: unknown): error is ConditionalCheckFailedException {
  const name = (error as SdkErrorShape | null)?.name;
  return error instanceof ConditionalCheckFailedException || name === 'ConditionalCheckFailedException';
}

/**
 * Maps what `client.send` threw to the module's errors. Condition failures pass through (each
 * operation decides what they mean). Unreachable, throttling or failing DynamoDB, after the SDK's
 * retries, is `SessionStateStoreUnavailableError`; a request DynamoDB rejects as wrong (missing
 * table, access denied, invalid request) is a plain `SessionStateError`. The cause is attached.
 */
export function toStoreError(error: unknown, operation: string, tableName: string): unknown {
  if (error instanceof SessionStateError || isConditionFailure(error)) return error;
  const shape = (error ?? {}) as SdkErrorShape;
  const name = shape.name ?? 'Error';
  const detail = `${name}: ${shape.message ?? String(error)}`;
  const what = `DynamoDB ${operation} on table "${tableName}"`;
  const status = shape.$metadata?.httpStatusCode ?? 0;
  // Errors DynamoDB did not answer with (refused or reset connections, DNS, timeouts) carry no $fault.
  const transient =
    TRANSIENT_ERROR_NAMES.has(name) ||
    shape.$fault === undefined ||
    shape.$fault === 'server' ||
    status >= 500 ||
    !!shape.$retryable;
  if (transient) {
    return new SessionStateStoreUnavailableError(`${what} failed: DynamoDB is unreachable, throttling or failing (${detail}).`, {
      cause: error,
    });
  }
  if (name === 'ResourceNotFoundException') {
    return new SessionStateError(`${what} failed: the table does not exist (${detail}).`, { cause: error });
  }
  return new SessionStateError(`${what} was rejected (${detail}).`, { cause: error });
}

/** The name of the AWS error behind an error `toStoreError` mapped (or of the error itself). */
export function awsErrorName(error: unknown): string | undefined {
  const cause = (error as { cause?: { name?: unknown } } | null)?.cause;
  const name = typeof cause?.name === 'string' ? cause.name : (error as SdkErrorShape | null)?.name;
  return typeof name === 'string' ? name : undefined;
}
