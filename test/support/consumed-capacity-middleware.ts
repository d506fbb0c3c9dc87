import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

const READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem']);

export interface CapacityMeter {
  /** Read capacity units DynamoDB reported since the last reset. */
  rcu(): number;
  /** Write capacity units DynamoDB reported since the last reset (successful writes only: see below). */
  wcu(): number;
  /** Calls by operation since the last reset: `['UpdateItem', 'GetItem']`. */
  calls(): string[];
  reset(): void;
  detach(): void;
}

let meters = 0;

/**
 * Counts the capacity units of a client's item calls as DynamoDB (Local) reports them: adds
 * `ReturnConsumedCapacity: 'TOTAL'` to every call and sums the `ConsumedCapacity` of the answers.
 * A write that fails its condition is charged by DynamoDB but its error reports no units, so it
 * adds nothing here: measure those separately (`measureItemWriteUnits`).
 */
export function meterCapacity(client: DynamoDBClient): CapacityMeter {
  const name = `meterCapacity-${++meters}`;
  let rcu = 0;
  let wcu = 0;
  let calls: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      calls.push(operation);
      (args.input as Record<string, unknown>).ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      // A batch call answers one entry per table.
      const consumed = (result.output as { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] }).ConsumedCapacity;
      const units = [consumed ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
      if (READS.has(operation)) rcu += units;
      else wcu += units;
      return result;
    },
    { step: 'initialize', name },
  );
  return {
    rcu: () => rcu,
    wcu: () => wcu,
    calls: () => [...calls],
    reset: () => {
      rcu = 0;
      wcu = 0;
      calls = [];
    },
    detach: () => {
      client.middlewareStack.remove(name);
    },
  };
}
