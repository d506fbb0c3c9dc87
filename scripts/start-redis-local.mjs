// Starts a local redis-server (Debian's `redis-server` package, or any on the PATH) in memory on
// REDIS_PORT (default 6379), then the built sample app on it with SESSION_STORE=redis. Ctrl-C
// stops both. Used by `npm run start:redis-local`. Nothing is persisted (`--save '' --appendonly
// no`): stopping it forgets every session, as a Redis restart without persistence would.
import { spawn } from 'node:child_process';
import { portOpen } from './port-open.mjs';
import { stopOnSignals } from './stop-on-signals.mjs';

const port = Number(process.env.REDIS_PORT ?? 6379);
const url = `redis://127.0.0.1:${port}`;

if (await portOpen(port)) {
  console.error(
    `Port ${port} is taken (a Redis already running?): choose another with REDIS_PORT, or run the sample app on it with SESSION_STORE=redis REDIS_URL=${url}.`,
  );
  process.exit(1);
}

// A process group of its own: Ctrl-C reaches the app and this script, and Redis is stopped after
// the app has released its locks.
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  detached: true,
});
// On any exit of this script (process.exit included); death by SIGINT/SIGTERM/SIGHUP is prevented below (stopOnSignals).
process.once('exit', () => redis.kill('SIGKILL'));
redis.once('error', (error) => {
  console.error(error.code === 'ENOENT' ? 'redis-server is not installed: apt-get install redis-server (or brew install redis).' : error);
  process.exit(1);
});

// SIGINT, SIGTERM, SIGHUP: see stop-on-signals.mjs.
const shutdown = stopOnSignals(redis);

// Ready once it says so (it prints the line when it accepts connections).
await new Promise((resolve, reject) => {
  let output = '';
  redis.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    output = (output + chunk.toString()).slice(-2_000);
    if (output.includes('Ready to accept connections')) resolve();
  });
  redis.once('exit', (code) => reject(new Error(`redis-server exited (code ${code}) before it was ready.`)));
}).catch((error) => {
  if (!shutdown.stopping) console.error(error.message);
  process.exit(shutdown.stopping ? process.exitCode : 1);
});
// Stopped while Redis was starting: it has been told to stop, and this script ends with it.
if (!shutdown.stopping) {
  console.log(`redis-server is listening on ${url}`);
  const app = spawn(process.execPath, ['sample-app/dist/main.js'], {
    stdio: 'inherit',
    env: { ...process.env, SESSION_STORE: 'redis', REDIS_URL: url },
  });
  shutdown.runApp(app);
  redis.once('exit', (code) => {
    if (!shutdown.stopping) console.error(`redis-server exited (code ${code}).`);
    shutdown.stop(shutdown.stopping ? process.exitCode : 1);
  });
}
