// `npm start` and `npm run start:redis-local` are chains (`npm run build && … && exec node …`) run by
// `sh -c`. A SIGTERM sent to the npm process alone (a process manager, an IDE's stop button,
// `timeout`, `docker stop` with npm as PID 1) is forwarded by npm to its child only: without `exec`
// that child is sh, which dies, and the app and redis-server stay running, holding their ports. The
// chains run on a stage without their builds (fixtures/start-scripts-stage.ts), so no build is needed.
import { spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { createStage, exited, freePort, portAnswers, watchOutput, type Stage } from './fixtures/start-scripts-stage.js';

let stage: Stage;
beforeAll(() => void (stage = createStage()));
afterAll(() => stage.remove());

function runNpm(script: string, env: Record<string, string>) {
  return spawn('npm', ['run', script], {
    cwd: stage.dir,
    detached: true, // a process group of its own, as in a terminal
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
}

/** Kills what a failure leaves behind: the npm process group, and redis-server (its own group). */
async function cleanUp(pgid: number, redisPort?: number) {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* gone */
  }
  if (redisPort !== undefined && (await portAnswers(redisPort))) {
    const socket = new Socket();
    await new Promise<void>((resolve) => {
      socket.once('error', () => resolve());
      socket.once('close', () => resolve());
      socket.connect(redisPort, '127.0.0.1', () => socket.end('SHUTDOWN NOSAVE\r\n'));
    });
  }
}

describe('the start scripts stop everything on a SIGTERM to npm', () => {
  it('npm start: the app stops with npm', async () => {
    const port = await freePort();
    const npm = runNpm('start', { PORT: String(port) });
    const output = watchOutput(npm);
    try {
      await output.printed('stub app listening');
      process.kill(npm.pid!, 'SIGTERM'); // npm only, as a process manager does
      await exited(npm);
      expect(await portAnswers(port), `the app still answers on ${port} after npm exited:\n${output.text}`).toBe(false);
    } finally {
      await cleanUp(npm.pid!);
    }
  });

  it('npm run start:redis-local: the app and redis-server stop before npm exits', async () => {
    const [port, redisPort] = [await freePort(), await freePort()];
    const npm = runNpm('start:redis-local', { PORT: String(port), REDIS_PORT: String(redisPort) });
    const output = watchOutput(npm);
    try {
      await output.printed('stub app listening');
      process.kill(npm.pid!, 'SIGTERM');
      await exited(npm);
      expect(await portAnswers(port), `the app still answers on ${port} after npm exited:\n${output.text}`).toBe(false);
      expect(await portAnswers(redisPort), `redis-server still answers on ${redisPort} after npm exited`).toBe(false);
    } finally {
      await cleanUp(npm.pid!, redisPort);
    }
  });
});
