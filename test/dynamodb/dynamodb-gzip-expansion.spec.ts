import { gzipSync } from 'node:zlib';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SessionStateCorruptError, SessionStateTooLargeError } from '../../src/errors/session-state.errors.js';
import { SessionItemsCodec } from '../../src/dynamodb/session-items-codec.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';

// Decompression is bounded as on Redis: stored gzip expands on read to at most 32 × maxItemBytes.
// It was unbounded: a small hostile or corrupted gzip (here ~16 KB holding 16 MB) was inflated
// whole into the request's memory. Past the bound, the record is corrupt (as a truncated gzip is):
// the lifecycle starts a new session. Items too large to be read back are refused at write.
const bomb = gzipSync(Buffer.from(`{"x":"${'0'.repeat(16 * 1024 * 1024)}"}`), { level: 9 });
const table = await useDynamoDBTable('gzipexpansion');
let raw: DynamoDBClient;
beforeAll(() => {
  raw = new DynamoDBClient(table.clientConfig);
});
afterAll(() => raw?.destroy());

describe('DynamoDB: bounded decompression', () => {
  it('the codec refuses a gzip expanding past 32 × maxItemBytes as corrupt, and decodes one within it', async () => {
    expect(bomb.length).toBeLessThan(100_000);
    const codec = new SessionItemsCodec(8192, 100_000);
    await expect(codec.decode({ B: bomb })).rejects.toThrow(SessionStateCorruptError);
    await expect(codec.decode({ B: bomb })).rejects.toThrow(/within 3200000 bytes/);
    const items = `{"x":"${'0'.repeat(3_000_000)}"}`;
    expect(await codec.decode(await codec.encode(items))).toBe(items);
  });

  it('the codec refuses at write items it would not read back (413, nothing written)', async () => {
    const codec = new SessionItemsCodec(8192, 100_000);
    await expect(codec.encode(`{"x":"${'0'.repeat(3_300_000)}"}`)).rejects.toThrow(SessionStateTooLargeError);
  });

  it('a stored record holding such a gzip reads as corrupt (the lifecycle then starts a new session)', async () => {
    const store = table.createStore({ maxItemBytes: 100_000 });
    const id = 'gzipbomb0000000000000000000000000';
    const now = Date.now();
    await raw.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: {
          SessionId: { S: id },
          Locked: { BOOL: false },
          Expires: { N: String(now + 600_000) },
          Timeout: { N: '20' },
          TimeoutMs: { N: '1200000' },
          TimeoutSeconds: { N: '1200' },
          Version: { N: '1' },
          TTL: { N: String(Math.ceil(now / 1000) + 3600) },
          Items: { B: bomb },
        },
      }),
    );
    await expect(store.getItem(id)).rejects.toThrow(SessionStateCorruptError);
  });
});
