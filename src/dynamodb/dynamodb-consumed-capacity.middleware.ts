import type { ConsumedCapacity, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { callingCapacityReport, type ConsumedCapacityReport } from '../observability/consumed-capacity.js';

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

const MIDDLEWARE_NAME = 'nestjs-session-state:consumed-capacity';

/**
 * The reports counting each client's calls, by table. One middleware per client: a client shared by
 * two stores, or a store shared by two applications, would otherwise count each call once per report.
 */
const reportsByClient = new WeakMap<DynamoDBClient, Map<string, ConsumedCapacityReport[]>>();

/**
 * Makes `client` ask DynamoDB for the capacity each call on `tableName` consumed
 * (`ReturnConsumedCapacity: 'TOTAL'`, which costs no capacity) and passes it to `report`. The store's
 * commands are untouched; calls on other tables (a client shared with the application) pass through
 * as they are. Each call is counted once: to the report it runs within (the application that made
 * it, see `withCapacityReport`) if that one counts this table, else to the first. Answers a function
 * that stops `report`.
 */
export function countConsumedCapacity(client: DynamoDBClient, tableName: string, report: ConsumedCapacityReport): () => void {
  let tables = reportsByClient.get(client);
  if (!tables) {
    const counted = new Map<string, ConsumedCapacityReport[]>();
    reportsByClient.set(client, counted);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const kind = CAPACITY_KIND[context.commandName ?? ''];
        const input = args.input as { TableName?: string; ReturnConsumedCapacity?: string };
        const reports = counted.get(input.TableName ?? '');
        if (!kind || !reports) return next(args);
        const calling = callingCapacityReport();
        const count = calling && reports.includes(calling) ? calling : reports[0]!;
        const result = await next({ ...args, input: { ...input, ReturnConsumedCapacity: input.ReturnConsumedCapacity ?? 'TOTAL' } });
        const reported = (result.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] }).ConsumedCapacity;
        for (const capacity of ([] as ConsumedCapacity[]).concat(reported ?? [])) {
          // Transactions report both; single operations usually only the total.
          const read = capacity.ReadCapacityUnits;
          const write = capacity.WriteCapacityUnits;
          if (read === undefined && write === undefined) count(kind, capacity.CapacityUnits ?? 0);
          else {
            count('read', read ?? 0);
            count('write', write ?? 0);
          }
        }
        return result;
      },
      { step: 'initialize', name: MIDDLEWARE_NAME },
    );
    tables = counted;
  }
  const reports = tables.get(tableName) ?? [];
  tables.set(tableName, [...reports, report]);
  const counted = tables;
  return () => {
    const left = (counted.get(tableName) ?? []).filter((r) => r !== report);
    if (left.length > 0) counted.set(tableName, left);
    else counted.delete(tableName);
    if (counted.size === 0 && reportsByClient.get(client) === counted) {
      reportsByClient.delete(client);
      client.middlewareStack.remove(MIDDLEWARE_NAME);
    }
  };
}
