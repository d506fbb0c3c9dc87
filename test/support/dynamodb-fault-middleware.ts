import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** What an injected fault does to a call: throw this error, or hang forever. */
export type DynamoDBFault = Error | 'hang';

let faults = 0;

/**
 * Injects faults into a client's calls with an SDK middleware (before serialization, so nothing
 * reaches DynamoDB). `fault(operation)` picks the fault for each call: `undefined` lets it through.
 * Answers a function that removes the middleware.
 */
export function injectDynamoDBFault(client: DynamoDBClient, fault: (operation: string) => DynamoDBFault | undefined): () => void {
  const name = `injectDynamoDBFault-${++faults}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const chosen = fault((context.commandName ?? 'Unknown').replace(/Command$/, ''));
      if (chosen === 'hang') return new Promise<never>(() => undefined);
      if (chosen) throw chosen;
      return next(args);
    },
    { step: 'initialize', name },
  );
  return () => client.middlewareStack.remove(name);
}

/** An error shaped like the SDK's modelled throttling error (after its retries gave up). */
export function throttlingError(): Error {
  return Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
    name: 'ThrottlingException',
    $fault: 'client' as const,
    $metadata: { httpStatusCode: 400, attempts: 3 },
  });
}
