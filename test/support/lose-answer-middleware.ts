import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

let losers = 0;

/**
 * Lets DynamoDB apply the first call that `matches`, then throws a retryable network error in
 * place of its answer (inside the SDK's retry loop, so the SDK sends the same request again), as
 * when a connection drops after the request was applied. Answers how many answers were lost and a
 * function that removes the middleware.
 */
export function loseFirstAnswer(
  client: DynamoDBClient,
  matches: (operation: string, input: Record<string, unknown>) => boolean,
): { lost: () => number; remove: () => void } {
  const name = `loseFirstAnswer-${++losers}`;
  let lost = 0;
  let seen = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const result = await next(args);
      if (matches(operation, args.input as Record<string, unknown>) && seen++ === 0) {
        lost++;
        throw Object.assign(new Error('socket hang up'), { name: 'Error', code: 'ECONNRESET', $metadata: {} });
      }
      return result;
    },
    // After the retry middleware: each attempt passes here.
    { step: 'deserialize', name },
  );
  return { lost: () => lost, remove: () => client.middlewareStack.remove(name) };
}
