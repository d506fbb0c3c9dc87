/** Runs one DynamoDB call, bounded in time and with its errors mapped (the store's `call`). */
export type BoundedCall = <T>(operation: string, run: (options: { abortSignal: AbortSignal }) => Promise<T>) => Promise<T>;
