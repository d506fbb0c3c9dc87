/** Counts capacity units of one kind (`session_state.dynamodb.consumed_capacity`). */
export type ConsumedCapacityReport = (type: 'read' | 'write', units: number) => void;

/**
 * A store whose backend charges by capacity units and can report them (the DynamoDB store). The
 * module asks only while metrics are recorded, so the store's calls are untouched otherwise. The
 * store implements this; observability never imports a store.
 */
export interface ReportsConsumedCapacity {
  /** Reports the capacity each of the store's calls consumes to `report` from now on; answers a function that stops it. */
  reportConsumedCapacity(report: ConsumedCapacityReport): () => void;
}

export function reportsConsumedCapacity(store: object): store is ReportsConsumedCapacity {
  return typeof (store as Partial<ReportsConsumedCapacity>).reportConsumedCapacity === 'function';
}
