// Starts a local redis-server (Debian's `redis-server` package, or any on the PATH) in memory on
// REDIS_PORT (default 6379), then the built sample app on it with SESSION_STORE=redis. Ctrl-C
// stops both. Used by `npm run start:redis-local`. Nothing is persisted (`--save '' --appendonly
// no`): stopping it forgets every session, as a Redis restart without persistence would.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';

const port = Number(process.env.REDIS_PORT ?? 6379);
const url = `redis://127.0.0.1:${port}`;

const portOpen = () =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

if (await portOpen()) {
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
// On any exit of this script (process.exit included); death by SIGINT/SIGTERM/SIGHUP is prevented below.
process.once('exit', () => redis.kill('SIGKILL'));
redis.once('error', (error) => {
  console.error(error.code === 'ENOENT' ? 'redis-server is not installed: apt-get install redis-server (or brew install redis).' : error);
  process.exit(1);
});

// Every SIGINT/SIGTERM/SIGHUP is handled (`process.on`), from now on: the first stops the app, then Redis;
// another one (an impatient second Ctrl-C while the app waits for in-flight requests) kills both at
// once and exits when they are gone. A signal left to its default would kill this script alone, and
// redis-server, in a process group of its own, would keep running and hold the port.
let app = null;
let stopping = false;
const running = (child) => child !== null && child.exitCode === null && child.signalCode === null;
const stop = (code) => {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  // The app first (it releases its locks and closes its client), then Redis.
  if (running(app)) {
    app.once('exit', () => redis.kill('SIGTERM'));
    app.kill('SIGTERM');
  } else redis.kill('SIGTERM');
};
const killNow = () => {
  const children = [app, redis].filter(running);
  if (children.length === 0) process.exit(130);
  let left = children.length;
  for (const child of children) {
    child.once('exit', () => --left === 0 && process.exit(130));
    child.kill('SIGKILL');
  }
};
const onSignal = () => (stopping ? killNow() : stop(0));
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A closed terminal (SSH dropped) sends SIGHUP: the same clean stop (redis-server is in a session of its own, review R41).
process.on('SIGHUP', onSignal);

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
  if (!stopping) console.error(error.message);
  process.exit(stopping ? process.exitCode : 1);
});
// Stopped while Redis was starting: it has been told to stop, and this script ends with it.
if (!stopping) {
  console.log(`redis-server is listening on ${url}`);
  app = spawn(process.execPath, ['sample-app/dist/main.js'], {
    stdio: 'inherit',
    env: { ...process.env, SESSION_STORE: 'redis', REDIS_URL: url },
  });
  app.once('exit', (code) => stop(code ?? 0));
  redis.once('exit', (code) => {
    if (!stopping) console.error(`redis-server exited (code ${code}).`);
    stop(stopping ? process.exitCode : 1);
  });
}
