// scripts/start-dynamodb-local.mjs refuses a taken DYNAMODB_PORT at once, naming it, as
// start-redis-local.mjs does with REDIS_PORT. Without the check it took the port answering (another
// DynamoDB Local, one left behind, any server) for its own java, which had failed to bind, printed
// "DynamoDB Local is listening on …" and ran the app against whatever held the port. The check comes
// before java and the app: neither a build nor Java is needed (the stage of
// fixtures/start-scripts-stage.ts stands in for the sample app when the check is missing).
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { createStage, exited, freePort, watchOutput, type Stage } from './fixtures/start-scripts-stage.js';

let stage: Stage;
beforeAll(() => void (stage = createStage()));
afterAll(() => stage.remove());

describe('start:dynamodb-local with DYNAMODB_PORT taken', () => {
  it('refuses at once with exit code 1, naming the port, and never claims DynamoDB Local is listening', async () => {
    const squatter = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as AddressInfo).port;
    const child = spawn(process.execPath, ['scripts/start-dynamodb-local.mjs'], {
      cwd: stage.dir,
      detached: true, // a group of its own, java included, to kill whatever a failure leaves running
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DYNAMODB_PORT: String(port), PORT: String(await freePort()) },
    });
    const output = watchOutput(child);
    try {
      const { code } = await Promise.race([
        exited(child),
        // Without the check the script runs on (and the app with it): stop waiting once it says so.
        output.printed('DynamoDB Local is listening').then(() => ({ code: 'still running' })),
      ]);
      expect(output.text).not.toContain(`DynamoDB Local is listening on http://127.0.0.1:${port}`);
      expect(output.text).toContain(`Port ${port} is taken`);
      expect(code).toBe(1);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      squatter.close();
    }
  });
});
