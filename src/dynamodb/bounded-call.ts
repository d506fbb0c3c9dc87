import { SessionStateStoreUnavailableError } from '../errors/session-state.errors.js';
import { toStoreError, type CallPhase } from './dynamodb-errors.js';

/** What a bounded call passes to `client.send`. */
export interface SendOptions {
  abortSignal: AbortSignal;
}

/** Runs one DynamoDB call, bounded in time and with its errors mapped (the store's `call`). */
export type BoundedCall = <T>(operation: string, run: (options: SendOptions) => Promise<T>) => Promise<T>;

/**
 * The calls of the store on `tableName`: each (SDK retries included) bounded by `requestTimeoutMs`.
 * When the time passes, the call is aborted and `SessionStateStoreUnavailableError` thrown, whatever
 * the SDK or a middleware is waiting for. Errors are mapped by `toStoreError`, for `phase`.
 */
export function boundedCalls(tableName: string, requestTimeoutMs: number, phase: CallPhase = 'request'): BoundedCall {
  return async <T>(operation: string, run: (options: SendOptions) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new SessionStateStoreUnavailableError(
          `DynamoDB ${operation} on table "${tableName}" did not complete within ${requestTimeoutMs} ms.`,
        );
        reject(error);
        controller.abort(error);
      }, requestTimeoutMs);
    });
    try {
      return await Promise.race([run({ abortSignal: controller.signal }), timedOut]);
    } catch (error) {
      throw toStoreError(error, operation, tableName, phase);
    } finally {
      clearTimeout(timer);
    }
  };
}
