/**
 * The consumed-capacity count of one SDK client used by several applications (a shared store, or
 * stores on one `{ client }`): one middleware, each call counted once, to the report of the
 * application it runs within, else to the first report on the table; a stopped report is no longer counted.
 */
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { countConsumedCapacity } from '../../src/dynamodb/dynamodb-consumed-capacity.middleware.js';
import { withCapacityReport, type ConsumedCapacityReport } from '../../src/observability/consumed-capacity.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';

const table = await useDynamoDBTable('capacity-per-app');
let client: DynamoDBClient;
beforeAll(() => {
  client = new DynamoDBClient({ ...table.clientConfig });
});
afterAll(() => client.destroy());

/** A report that sums the write units it is given. */
function writeCounter(): ConsumedCapacityReport & { units: number } {
  const report = Object.assign(
    (type: 'read' | 'write', units: number) => {
      if (type === 'write') report.units += units;
    },
    { units: 0 },
  );
  return report;
}

const put = () => client.send(new PutItemCommand({ TableName: table.tableName, Item: { SessionId: { S: 'capacity-probe' } } }));

describe('countConsumedCapacity with several reports on one client', () => {
  it('counts each call once: to the application it runs within, else to the first report', async () => {
    const first = writeCounter();
    const second = writeCounter();
    const stops = [countConsumedCapacity(client, table.tableName, first), countConsumedCapacity(client, table.tableName, second)];
    try {
      await withCapacityReport(second, put);
      expect([first.units, second.units]).toEqual([0, 1]);
      await put();
      expect([first.units, second.units]).toEqual([1, 1]);
      stops[0]!();
      await withCapacityReport(first, put);
      expect([first.units, second.units]).toEqual([1, 2]);
    } finally {
      for (const stop of stops) stop();
    }
    await put();
    expect([first.units, second.units]).toEqual([1, 2]);
    expect(client.middlewareStack.identify().some((name) => name.includes('consumed-capacity'))).toBe(false);
  });
});
