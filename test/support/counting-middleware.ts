import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface DynamoDBCallCounter {
  /** Calls sent since the last reset (one per `client.send`, whatever the SDK retried). */
  total(): number;
  /** The same, by operation name: `{ GetItem: 1, UpdateItem: 2 }`. */
  byCommand(): Record<string, number>;
  /** Operation names in the order they were sent. */
  calls(): string[];
  reset(): void;
  /** Removes the middleware from the client. */
  detach(): void;
}

let counters = 0;

/** Counts the DynamoDB calls a client sends, by operation (an SDK middleware; no mock). */
export function countDynamoDBCalls(client: DynamoDBClient): DynamoDBCallCounter {
  const name = `countDynamoDBCalls-${++counters}`;
  let sent: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push((context.commandName ?? 'Unknown').replace(/Command$/, ''));
      return next(args);
    },
    { step: 'initialize', name },
  );
  return {
    total: () => sent.length,
    byCommand: () => {
      const counts: Record<string, number> = {};
      for (const command of sent) counts[command] = (counts[command] ?? 0) + 1;
      return counts;
    },
    calls: () => [...sent],
    reset: () => {
      sent = [];
    },
    detach: () => {
      client.middlewareStack.remove(name);
    },
  };
}
