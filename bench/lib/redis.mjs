// Redis for `npm run bench`: a redis-server of its own on a free port (no persistence), and what the
// bench reads from it. Round trips are counted by the server, not by us: MONITOR shows every command
// a client sends, and the commands a Lua script runs as `[0 lua]` (not round trips), so a script
// call counts once. Each app names its connections (CLIENT SETNAME, `REDIS_CLIENT_NAME`), which is
// how a command is attributed to an instance.
import { spawn } from 'node:child_process';
import { createClient } from 'redis';
import { freePort, portOpen, track, waitFor } from './processes.mjs';

/** redis-server (Debian's package; `.ci/run` installs it) on 127.0.0.1, in memory only. */
export async function startRedis() {
  const port = await freePort();
  const child = track(
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }),
  );
  const failed = new Promise((_, reject) =>
    child.once('error', (error) =>
      reject(error.code === 'ENOENT' ? new Error('redis-server is not installed (apt-get install redis-server)') : error),
    ),
  );
  await Promise.race([waitFor(() => portOpen(port), 'redis-server'), failed]);
  const url = `redis://127.0.0.1:${port}`;
  const admin = createClient({ url, name: 'bench-admin' });
  await admin.connect();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    url,
    admin,
    version: (await admin.info('server')).match(/redis_version:(\S+)/)?.[1],
    stop: async () => {
      admin.destroy();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One MONITOR line: `1796477158.825396 [0 127.0.0.1:55288] "evalsha" "…" …`. */
const LINE = /^(\d+\.\d+) \[\d+ ([^\]]+)\] "([^"]+)"/;

/**
 * The commands the server processes, as they happen: `{ time (s, server clock), addr, lua, command }`.
 * `settle()` waits until every command the server processed before it has been seen (a marker
 * command goes through the same feed, in order).
 */
export async function watchCommands(redis) {
  const client = createClient({ url: redis.url, name: 'bench-monitor' });
  await client.connect();
  const seen = [];
  let markers = 0;
  const waiting = new Map();
  const watchers = new Set();
  await client.monitor((line) => {
    const m = LINE.exec(line);
    if (!m) return;
    const [, time, addr, command] = m;
    const marker = /"echo" "bench-marker-(\d+)"$/i.exec(line);
    if (marker) {
      waiting.get(Number(marker[1]))?.();
      return;
    }
    const entry = { time: Number(time), addr, lua: addr === 'lua', command: command.toLowerCase() };
    seen.push(entry);
    for (const watcher of watchers) watcher(entry);
  });
  return {
    /** The commands seen since the last take (after a settle, all of those processed before it). */
    take: () => seen.splice(0),
    settle: async () => {
      const n = ++markers;
      const arrived = new Promise((resolve) => waiting.set(n, resolve));
      await redis.admin.echo(`bench-marker-${n}`);
      await arrived;
      waiting.delete(n);
    },
    /** The next command (from now on) that `match` accepts. */
    next: (match) =>
      new Promise((resolve) => {
        const watcher = (entry) => {
          if (!match(entry)) return;
          watchers.delete(watcher);
          resolve(entry);
        };
        watchers.add(watcher);
      }),
    close: () => client.destroy(),
  };
}

/** addr → client name, of the connections open now (CLIENT LIST). */
export async function clientNames(redis) {
  const list = await redis.admin.clientList();
  return new Map(list.map((c) => [c.addr, c.name]));
}

/** Every key of the database (SCAN). */
export async function allKeys(redis) {
  const keys = [];
  for await (const batch of redis.admin.scanIterator({ COUNT: 1000 })) keys.push(...batch);
  return keys;
}

/** MEMORY USAGE of each key, summed (SAMPLES 0: every element of a hash counted, not sampled). */
export async function memoryOf(redis, keys) {
  let bytes = 0;
  for (const key of keys) bytes += (await redis.admin.memoryUsage(key, { SAMPLES: 0 })) ?? 0;
  return bytes;
}
