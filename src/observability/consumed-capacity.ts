import { AsyncLocalStorage } from 'node:async_hooks';

/** Counts capacity units of one kind (`session_state.dynamodb.consumed_capacity`). */
export type ConsumedCapacityReport = (type: 'read' | 'write', units: number) => void;

/**
 * A store whose backend charges by capacity units and can report them (the DynamoDB store). The
 * module asks only while metrics are recorded, so the store's calls are untouched otherwise. The
 * store implements this; observability never imports a store.
 */
export interface ReportsConsumedCapacity {
  /**
   * Reports the capacity each of the store's calls consumes to `report` from now on; answers a
   * function that stops it. With several reports on one table (applications sharing the store or its
   * client), each call is counted once: to the report it runs within (`withCapacityReport`), else to the first.
   */
  reportConsumedCapacity(report: ConsumedCapacityReport): () => void;
}

export function reportsConsumedCapacity(store: object): store is ReportsConsumedCapacity {
  return typeof (store as Partial<ReportsConsumedCapacity>).reportConsumedCapacity === 'function';
}

/**
 * The application whose store call is running: several applications can share one store object or
 * one SDK client, and a client's calls carry no mark of the application they serve. Each measured
 * store runs its calls within its application's report; the store's counting reads it.
 */
const callingApplication = new AsyncLocalStorage<ConsumedCapacityReport>();

/** Runs `call` on behalf of the application that counts with `report`. */
export function withCapacityReport<T>(report: ConsumedCapacityReport, call: () => T): T {
  return callingApplication.run(report, call);
}

/** The report of the application whose store call is running, if one is. */
export function callingCapacityReport(): ConsumedCapacityReport | undefined {
  return callingApplication.getStore();
}
