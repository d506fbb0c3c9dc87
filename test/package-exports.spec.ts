import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the built package', () => {
  it('imports by its own name, as a published package would, with exactly the public API', () => {
    // A separate Node process resolves 'nestjs-session-state' through package.json "exports" to dist/.
    const names = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import('nestjs-session-state').then((m) => console.log(Object.keys(m).sort().join(',')))"],
      { cwd: root, encoding: 'utf8' },
    ).trim();
    expect(names.split(',')).toEqual(
      expect.arrayContaining([
        'DynamoDBSessionStateStore',
        'HttpSessionState',
        'InMemorySessionStateStore',
        'Session',
        'SessionState',
        'SessionStateAccessor',
        'SessionStateBehavior',
        'SessionStateModule',
        'SessionStateStore',
        'SessionRevoker',
        'SessionStateStoreMisconfiguredError',
      ]),
    );
    // Internals stay internal.
    expect(names).not.toMatch(/Lifecycle|Coordinator|Interceptor|Resolver|Observer|Metrics|HealthIndicator/);
  });

  it('exports the terminus health indicator from its own entry point, nestjs-session-state/health', () => {
    const names = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import('nestjs-session-state/health').then((m) => console.log(Object.keys(m).sort().join(',')))"],
      { cwd: root, encoding: 'utf8' },
    ).trim();
    expect(names).toBe('SessionStateHealthIndicator');
  });
});
