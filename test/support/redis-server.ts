/**
 * Real `redis-server` processes for the Redis store's tests (Debian's `redis-server`, which
 * `.ci/run` installs): one server on a free port, or a three-master cluster. No persistence
 * (`--save '' --appendonly no`), so a killed server comes back empty, as in production without it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** SIGKILL: the server dies as in a crash (nothing is saved). */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty) and waits until it is ready. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Fails with a clear message when the binaries are missing (never a silent skip). */
function missingBinary(name: string, error: NodeJS.ErrnoException): Error {
  return error.code === 'ENOENT'
    ? new Error(
        `The Redis tests need \`${name}\` (Debian: apt-get install redis-server redis-tools; .ci/run installs them), but it is not on the PATH.`,
      )
    : error;
}

/** Starts `redis-server` on a free port with `extra` arguments; resolves once it accepts connections. */
export async function startRedisServer(extra: string[] = [], dir?: string): Promise<RedisServer> {
  const port = await freePort();
  let child = await launch(port, extra, dir);
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
    restart: async () => {
      child = await launch(port, extra, dir);
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await server.kill();
    },
  };
  return server;
}

async function launch(port: number, extra: string[], dir: string | undefined): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server on port ${port} was not ready within 10 s. Its output:\n${output}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (error) => (clearTimeout(timer), reject(missingBinary('redis-server', error))));
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`redis-server exited (code ${code}). Its output:\n${output}`))));
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

export interface RedisCluster {
  readonly nodes: RedisServer[];
  /** `{ url }` of each master, for `createCluster({ rootNodes })`. */
  readonly rootNodes: { url: string }[];
  stop(): Promise<void>;
}

/** Three masters (`--cluster-enabled yes`) joined by `redis-cli --cluster create`, ready once every node reports `cluster_state:ok`. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const dirs: string[] = [];
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
      dirs.push(dir);
      nodes.push(await startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'], dir));
    }
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']).catch(
      (error: NodeJS.ErrnoException) => {
        throw missingBinary('redis-cli', error);
      },
    );
    // The nodes learn of each other by gossip: the cluster serves once every one says ok.
    for (const node of nodes) {
      for (let tries = 0; ; tries++) {
        const { stdout } = await run('redis-cli', ['-p', String(node.port), 'CLUSTER', 'INFO']);
        if (stdout.includes('cluster_state:ok')) break;
        if (tries > 100) throw new Error(`The Redis cluster did not reach cluster_state:ok:\n${stdout}`);
        await delay(50);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, rootNodes: nodes.map((n) => ({ url: n.url })), stop };
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
