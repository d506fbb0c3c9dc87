import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { SessionStateError, SessionStateStoreMisconfiguredError, SessionStateStoreUnavailableError } from '../errors/session-state.errors.js';

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

/** Errors that mean credentials are missing, wrong or not allowed: the fix is in the IAM setup. */
const CREDENTIALS_ERROR_NAMES = new Set([
  'CredentialsProviderError',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
]);

/**
 * A configuration error, and how to fix it: missing credentials, a missing region, access denied,
 * a missing table. These never pass by themselves, so they are told apart from outages.
 */
function configurationFix(name: string, message: string, operation: string, tableName: string): string | undefined {
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return (
      'no AWS credentials were found. Give the process credentials (an IAM role for the task or instance, ' +
      'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), or pass clientConfig.credentials'
    );
  }
  if (/region is missing|region not accepted/i.test(message)) {
    return 'no (valid) AWS region is configured. Set AWS_REGION, or pass clientConfig.region (e.g. { region: "eu-west-1" })';
  }
  if (CREDENTIALS_ERROR_NAMES.has(name)) {
    return 'the AWS credentials were rejected (unknown, expired or badly signed). Check the access key, session token and clock of the process';
  }
  if (name === 'AccessDeniedException') {
    return (
      `the credentials are not allowed dynamodb:${operation} on table "${tableName}". ` +
      'Grant it to the role or user (docs/DYNAMODB.md: "IAM permissions")'
    );
  }
  if (name === 'ResourceNotFoundException') {
    return (
      `the table "${tableName}" does not exist (in this account and region). Create it (docs/DYNAMODB.md: "Table"), ` +
      'set tableName (and clientConfig.region) to the right one, or set createIfNotExists: true'
    );
  }
  return undefined;
}

/**
 * Maps what `client.send` threw to the module's errors. Condition failures pass through (each
 * operation decides what they mean). A configuration error (missing credentials or region, access
 * denied, missing table) is `SessionStateStoreMisconfiguredError` with the fix in its message;
 * unreachable, throttling or failing DynamoDB, after the SDK's retries, is
 * `SessionStateStoreUnavailableError`; another request DynamoDB rejects as wrong is a plain
 * `SessionStateError`. The cause is attached.
 */
export function toStoreError(error: unknown, operation: string, tableName: string): unknown {
  if (error instanceof SessionStateError || isConditionFailure(error)) return error;
  const shape = (error ?? {}) as SdkErrorShape;
  const name = shape.name ?? 'Error';
  const detail = `${name}: ${shape.message ?? String(error)}`;
  const what = `DynamoDB ${operation} on table "${tableName}"`;
  const status = shape.$metadata?.httpStatusCode ?? 0;
  const fix = configurationFix(name, shape.message ?? '', operation, tableName);
  if (fix) {
    return new SessionStateStoreMisconfiguredError(`${what} failed: configuration error: ${fix} (${detail}).`, { cause: error });
  }
  // Errors DynamoDB did not answer with (refused or reset connections, DNS, timeouts) carry no $fault.
  const transient = TRANSIENT_ERROR_NAMES.has(name) || shape.$fault === undefined || shape.$fault === 'server' || status >= 500 || !!shape.$retryable;
  if (transient) {
    return new SessionStateStoreUnavailableError(`${what} failed: DynamoDB is unreachable, throttling or failing (${detail}).`, {
      cause: error,
    });
  }
  return new SessionStateError(`${what} was rejected (${detail}).`, { cause: error });
}

/** The name of the AWS error behind an error `toStoreError` mapped (or of the error itself). */
export function awsErrorName(error: unknown): string | undefined {
  const cause = (error as { cause?: { name?: unknown } } | null)?.cause;
  const name = typeof cause?.name === 'string' ? cause.name : (error as SdkErrorShape | null)?.name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Whether a call that failed may still have been applied by DynamoDB: it got no answer (a timeout,
 * the network, an answer lost through every retry). A configuration error (access denied, no such
 * table, no credentials) was refused: nothing to settle after it.
 */
export function mayHaveLanded(error: unknown): boolean {
  return error instanceof SessionStateStoreUnavailableError && !(error instanceof SessionStateStoreMisconfiguredError);
}
