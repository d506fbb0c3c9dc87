/**
 * vitest globalSetup: one DynamoDB Local for the whole run. It is launched without waiting for the
 * JVM, so runs without DynamoDB tests are not slowed down; tests get the endpoint with
 * `await dynamoDBEndpoint()` (`dynamodb-test-helpers.ts`), which waits until it answers.
 * When it cannot be launched (no Java), the run goes on and only the tests that need it fail, with the reason.
 */
import type { TestProject } from 'vitest/node';
import { launchDynamoDBLocal } from './dynamodb-local.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Endpoint of the run's DynamoDB Local; `''` when it could not be launched. */
    dynamodbEndpoint: string;
    /** Why DynamoDB Local could not be launched; `''` when it was. */
    dynamodbLocalError: string;
  }
}

export default async function setup({ provide }: TestProject): Promise<() => Promise<void>> {
  try {
    const local = await launchDynamoDBLocal();
    provide('dynamodbEndpoint', local.endpoint);
    provide('dynamodbLocalError', '');
    let stopped = false;
    // Reported here too: test workers only see a timeout.
    local.ready().catch((error: Error) => {
      if (!stopped) console.error(`[dynamodb-local] ${error.message}`);
    });
    return () => {
      stopped = true;
      return local.stop();
    };
  } catch (error) {
    provide('dynamodbEndpoint', '');
    provide('dynamodbLocalError', (error as Error).message);
    return async () => undefined;
  }
}
