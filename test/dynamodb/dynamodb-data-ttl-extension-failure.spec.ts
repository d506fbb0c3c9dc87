import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { expect, it, vi } from 'vitest';
import { generateSessionId } from '../../src/session/session-id.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { throttlingError } from '../support/dynamodb-fault-middleware.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';

// A load extends the data item's TTL (a best-effort `UpdateItem`, at most once per 12 h). A failure
// of that write used to fail the load: 503 for a session that was read, and a read-write request
// lost the lock it had just taken. It is now logged and the load goes on, as a failed expiry slide
// of a read-only request is. (Throttled at the SDK middleware, as the other DynamoDB tests do.)
let time = Date.now();
const { createStore } = await useDynamoDBTable('ttlext', { clock: () => time });

it('a data item whose TTL extension is throttled: the session is still read (read-only and read-write), the lock taken', async () => {
  const id = generateSessionId();
  const items = JSON.stringify({ notes: randomBytes(2048).toString('hex') }); // 4 KB: a data item
  await createStore().setAndReleaseItemExclusive(id, { items, timeout: 24 * 60 }, null, true);
  time += 13 * 3_600_000; // the session, slid now, would come within 12 h of its data item's TTL
  const store = createStore();
  let extensions = 0;
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { UpdateExpression?: string };
      if (context.commandName === 'UpdateItemCommand' && input.UpdateExpression === 'SET #ttl = :ttl') {
        extensions++;
        throw throttlingError();
      }
      return next(args);
    },
    { step: 'initialize', name: 'throttleTtlExtension' },
  );

  const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
  try {
    expect(flat(await store.getItem(id)).item?.items).toBe(items);
    const held = flat(await store.getItemExclusive(id));
    expect(held.kind).toBe('acquired');
    expect(extensions).toBe(2);
    await store.setAndReleaseItemExclusive(id, { items, timeout: 24 * 60 }, held.lockId, false);
    // Each failure logged, without the session id.
    const lines = warn.mock.calls.map((call) => String(call[0]));
    expect(lines.filter((line) => line.includes('could not be extended'))).toHaveLength(2);
    expect(lines.join('\n')).not.toContain(id);
  } finally {
    warn.mockRestore();
  }
});
