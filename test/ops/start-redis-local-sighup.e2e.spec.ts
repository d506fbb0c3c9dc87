/**
 * A terminal that closes (an SSH session that drops, a window closed) sends SIGHUP to the foreground
 * process group: the start script and the app, not redis-server (spawned in a session of its own). The
 * script stops them all, as for SIGINT/SIGTERM: nothing is left answering on REDIS_PORT (review R41).
 */
import { spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { createStage, exited, freePort, portAnswers, watchOutput, type Stage } from '../ops/fixtures/start-scripts-stage.js';

let stage: Stage;
beforeAll(() => void (stage = createStage()));
afterAll(() => stage.remove());

describe('scripts/start-redis-local.mjs and a terminal hang-up (SIGHUP)', () => {
  it('stops redis-server too: nothing answers on REDIS_PORT once the script is gone', async () => {
    const [port, storePort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, ['scripts/start-redis-local.mjs'], {
      cwd: stage.dir,
      detached: true, // the terminal's foreground process group
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PORT: String(port), REDIS_PORT: String(storePort) },
    });
    const output = watchOutput(child);
    const pgid = child.pid!;
    try {
      await output.printed('stub app listening');
      process.kill(-pgid, 'SIGHUP'); // the terminal closed
      await exited(child); // the script exits after redis-server did
      expect(await portAnswers(storePort), `redis-server still answers on ${storePort}:\n${output.text}`).toBe(false);
    } finally {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* gone */
      }
      if (await portAnswers(storePort)) {
        const socket = new Socket();
        await new Promise<void>((resolve) => {
          socket.once('error', () => resolve());
          socket.once('close', () => resolve());
          socket.connect(storePort, '127.0.0.1', () => socket.end('SHUTDOWN NOSAVE\r\n'));
        });
      }
    }
  });
});
