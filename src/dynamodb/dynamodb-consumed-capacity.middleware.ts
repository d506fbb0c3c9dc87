import type { ConsumedCapacity, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ConsumedCapacityReport } from '../observability/consumed-capacity.js';

/** The item operations that can report consumed capacity, and whether each reads or writes. */
const CAPACITY_KIND: Record<string, 'read' | 'write'> = {
  GetItemCommand: 'read',
  QueryCommand: 'read',
  ScanCommand: 'read',
  BatchGetItemCommand: 'read',
  TransactGetItemsCommand: 'read',
  PutItemCommand: 'write',
  UpdateItemCommand: 'write',
  DeleteItemCommand: 'write',
  BatchWriteItemCommand: 'write',
  TransactWriteItemsCommand: 'write',
};

let middlewares = 0;

/**
 * Adds an SDK middleware to `client` that asks DynamoDB for the capacity each call on `tableName`
 * consumed (`ReturnConsumedCapacity: 'TOTAL'`, which costs no capacity) and passes it to `report`. The store's commands are untouched; calls on other
 * tables (a client shared with the application) pass through as they are. Answers a function
 * that removes the middleware.
 */
export function countConsumedCapacity(client: DynamoDBClient, tableName: string, report: ConsumedCapacityReport): () => void {
  const name = `nestjs-session-state:consumed-capacity-${++middlewares}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const kind = CAPACITY_KIND[context.commandName ?? ''];
      const input = args.input as { TableName?: string; ReturnConsumedCapacity?: string };
      if (!kind || input.TableName !== tableName) return next(args);
      const result = await next({ ...args, input: { ...input, ReturnConsumedCapacity: input.ReturnConsumedCapacity ?? 'TOTAL' } });
      const reported = (result.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] }).ConsumedCapacity;
      for (const capacity of ([] as ConsumedCapacity[]).concat(reported ?? [])) {
        // Transactions report both; single operations usually only the total.
        const read = capacity.ReadCapacityUnits;
        const write = capacity.WriteCapacityUnits;
        if (read === undefined && write === undefined) report(kind, capacity.CapacityUnits ?? 0);
        else {
          report('read', read ?? 0);
          report('write', write ?? 0);
        }
      }
      return result;
    },
    { step: 'initialize', name },
  );
  return () => {
    client.middlewareStack.remove(name);
  };
}
