import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { redactSessionId } from '../session/session-id.js';
import { secretsOfStoreError } from '../errors/store-error-origin.js';
import type { StoreFailureClass } from './store-failure.js';

export interface StoreFailure {
  readonly failure: StoreFailureClass;
  /** The store contract method. */
  readonly operation: string;
  /** The store, as an operator finds it (`DynamoDB table "sessions"`). */
  readonly store: string;
  readonly error: unknown;
  /** Values that must not reach the log (the session id, the owner): replaced if a message carries them. */
  readonly secrets: readonly string[];
}

interface Window {
  /** Failures since the last line written. */
  count: number;
  last: string;
  timer: NodeJS.Timeout;
}

/** Default interval between summary lines of one kind of failure. */
const FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * Logs store failures at error level without flooding the log during an outage: the first failure
 * of a kind (class and error name) is logged at once, in full; further ones of that kind are
 * counted, and one summary line per interval says how many there were and shows the last one.
 */
export class StoreFailureLog implements OnApplicationShutdown {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly logger: Pick<Logger, 'error'> = new Logger('SessionState'),
    private readonly intervalMs = FAILURE_LOG_INTERVAL_MS,
  ) {}

  report(failure: StoreFailure): void {
    const line = describe(failure);
    const kind = `${failure.failure}:${errorName(failure.error)}`;
    const window = this.windows.get(kind);
    if (window) {
      window.count++;
      window.last = line;
      return;
    }
    this.logger.error(line);
    const timer = setInterval(() => this.flush(kind), this.intervalMs).unref();
    this.windows.set(kind, { count: 0, last: line, timer });
  }

  /** Writes the summary line of each kind that failed again since its last line (the timer's job; tests call it). */
  flush(only?: string): void {
    for (const [kind, window] of this.windows) {
      if (only !== undefined && kind !== only) continue;
      if (window.count === 0) {
        // A quiet interval: the next failure of this kind is logged in full again.
        clearInterval(window.timer);
        this.windows.delete(kind);
        continue;
      }
      const seconds = Math.round(this.intervalMs / 1000);
      this.logger.error(`${window.count} more session store failure(s) of this kind in the last ${seconds} s; the last: ${window.last}`);
      window.count = 0;
    }
  }

  onApplicationShutdown(): void {
    this.flush();
    for (const window of this.windows.values()) clearInterval(window.timer);
    this.windows.clear();
  }
}

/**
 * The one redaction of every log line the module writes: each secret given, and each recorded for
 * the errors (and their causes) the line shows, is replaced by its short hash. A store's errors may
 * name their key (Redis and SQL client errors do): a session id is a bearer credential.
 */
export function redactSecrets(line: string, secrets: readonly string[], ...errors: unknown[]): string {
  const all = new Set(secrets);
  for (let error of errors) {
    for (let depth = 0; depth < 8 && typeof error === 'object' && error !== null; depth++) {
      for (const secret of secretsOfStoreError(error)) all.add(secret);
      error = (error as { cause?: unknown }).cause;
    }
  }
  for (const secret of all) if (secret) line = line.replaceAll(secret, redactSessionId(secret));
  return line;
}

/** An error's message for a log line: redacted (see `redactSecrets`). */
export function loggableMessage(error: unknown, secrets: readonly string[] = []): string {
  return redactSecrets(messageOf(error), secrets, error);
}

function describe({ failure, operation, store, error, secrets }: StoreFailure): string {
  const cause = (error as { cause?: unknown } | null)?.cause;
  const what =
    failure === 'configuration' ? 'Session store configuration error' : failure === 'outage' ? 'Session store unavailable' : 'Session store failure';
  let line = `${what} [${failure}]: ${operation} on ${store} failed with ${errorName(error)}: ${messageOf(error)}`;
  if (cause !== undefined && !messageOf(error).includes(messageOf(cause))) line += ` (cause: ${errorName(cause)}: ${messageOf(cause)})`;
  return redactSecrets(line, secrets, error);
}

function errorName(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name ? name : typeof error;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
