// Ctrl-C pressed twice: the app's shutdown waits for in-flight requests (up to shutdownTimeout), and
// users press again. The start scripts handle every SIGINT/SIGTERM: the second kills the app and
// redis-server / DynamoDB Local at once, and the script exits when they are gone. A one-shot handler
// left the second SIGINT to its default: the script died, its exit handler did not run, and
// redis-server (a process group of its own) kept the port, so the next run refused with "Port 6379 is
// taken". Runs the scripts with node on a stage whose app is a stand-in with a long shutdown
// (fixtures/start-scripts-stage.ts): no build needed.
import { spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { createStage, exited, freePort, portAnswers, watchOutput, type Stage } from './fixtures/start-scripts-stage.js';

let stage: Stage;
beforeAll(() => void (stage = createStage()));
afterAll(() => stage.remove());

const STORES = [
  { script: 'scripts/start-redis-local.mjs', portVariable: 'REDIS_PORT', server: 'redis-server' },
  { script: 'scripts/start-dynamodb-local.mjs', portVariable: 'DYNAMODB_PORT', server: 'DynamoDB Local' },
];

describe.each(STORES)('$script and a second Ctrl-C during shutdown', ({ script, portVariable, server }) => {
  it(`stops the app and ${server} at once, and exits after them`, async () => {
    const [port, storePort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [script], {
      cwd: stage.dir,
      detached: true, // the terminal's foreground process group
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PORT: String(port), [portVariable]: String(storePort), STUB_SHUTDOWN_MS: '60000' },
    });
    const output = watchOutput(child);
    const pgid = child.pid!;
    try {
      await output.printed('stub app listening');
      process.kill(-pgid, 'SIGINT'); // Ctrl-C
      await output.printed('stub app got SIGTERM'); // from the script: it is stopping the app
      process.kill(-pgid, 'SIGINT'); // the impatient second Ctrl-C
      await exited(child);
      expect(await portAnswers(storePort), `${server} still answers on ${storePort}:\n${output.text}`).toBe(false);
      expect(await portAnswers(port), `the app still answers on ${port}`).toBe(false);
    } finally {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* gone */
      }
      if (server === 'redis-server' && (await portAnswers(storePort))) {
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
