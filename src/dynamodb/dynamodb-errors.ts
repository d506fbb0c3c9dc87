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

/** Where a call is made: at startup (the table check or creation of `init()`) or for a request. */
export type CallPhase = 'startup' | 'request';

/**
 * The HTTP status of an answer that is not DynamoDB's: one the SDK could not map to a DynamoDB
 * error (`Unknown`, an empty or non-JSON 404 of a proxy or load balancer) or could not parse (an
 * HTML page of another web service). Undefined for DynamoDB's own answers and for no answer at all.
 */
function foreignAnswerStatus({ name, message, $metadata }: SdkErrorShape): number | undefined {
  const status = $metadata?.httpStatusCode;
  if (status === undefined) return undefined;
  return name === 'Unknown' || name === 'SyntaxError' || /Deserialization error/.test(message ?? '') ? status : undefined;
}

/**
 * A configuration error, and how to fix it: missing credentials, a missing region, access denied,
 * a missing table, an endpoint that is not DynamoDB. These never pass by themselves, so they are
 * told apart from outages.
 */
function configurationFix(shape: SdkErrorShape, operation: string, tableName: string, phase: CallPhase): string | undefined {
  const name = shape.name ?? 'Error';
  const message = shape.message ?? '';
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
  // At startup, an answer below 500 that is not DynamoDB's is another service at the endpoint; a 5xx
  // page stays an outage (a gateway whose upstream is restarting: DynamoDB Local or LocalStack in a
  // container still starting), and so does every foreign answer on the request path, where the
  // endpoint was DynamoDB at startup and a proxy's page is more likely a passing fault.
  const foreign = foreignAnswerStatus(shape);
  if (phase === 'startup' && foreign !== undefined && foreign < 500) {
    return (
      `the endpoint answered HTTP ${foreign} with something that is not a DynamoDB answer ` +
      '(another service, a proxy or a load balancer). Check clientConfig.endpoint (host, port, scheme), or leave it out for AWS'
    );
  }
  return undefined;
}

/**
 * Maps what `client.send` threw to the module's errors. Condition failures pass through (each
 * operation decides what they mean). A configuration error (missing credentials or region, access
 * denied, missing table; at startup, an endpoint answering below 500 with something that is not
 * DynamoDB's) is `SessionStateStoreMisconfiguredError` with the fix in its message;
 * unreachable, throttling or failing DynamoDB, after the SDK's retries, is
 * `SessionStateStoreUnavailableError`; another request DynamoDB rejects as wrong is a plain
 * `SessionStateError`. The cause is attached.
 */
export function toStoreError(error: unknown, operation: string, tableName: string, phase: CallPhase = 'request'): unknown {
  if (error instanceof SessionStateError || isConditionFailure(error)) return error;
  const shape = (error ?? {}) as SdkErrorShape;
  const name = shape.name ?? 'Error';
  const detail = `${name}: ${shape.message ?? String(error)}`;
  const what = `DynamoDB ${operation} on table "${tableName}"`;
  const status = shape.$metadata?.httpStatusCode ?? 0;
  const fix = configurationFix(shape, operation, tableName, phase);
  if (fix) {
    return new SessionStateStoreMisconfiguredError(`${what} failed: configuration error: ${fix} (${detail}).`, { cause: error });
  }
  // Errors DynamoDB did not answer with (refused or reset connections, DNS, timeouts) carry no $fault.
  const transient = TRANSIENT_ERROR_NAMES.has(name) || shape.$fault === undefined || shape.$fault === 'server' || status >= 500 || !!shape.$retryable;
  if (transient) {
    const foreign = foreignAnswerStatus(shape);
    const hint = foreign === undefined ? '' : `; the answer, HTTP ${foreign}, is not DynamoDB's: if it persists, check clientConfig.endpoint`;
    return new SessionStateStoreUnavailableError(`${what} failed: DynamoDB is unreachable, throttling or failing (${detail})${hint}.`, {
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
