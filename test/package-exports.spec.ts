import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const MAIN_EXPORTS = [
  'HttpSessionState',
  'InMemorySessionStateStore',
  'Session',
  'SessionState',
  'SessionStateAccessor',
  'SessionStateActions',
  'SessionStateBehavior',
  'SessionStateCorruptError',
  'SessionStateError',
  'SessionStateGuard',
  'SessionStateLockLostError',
  'SessionStateModule',
  'SessionStateQueueFullError',
  'SessionStateReadOnlyError',
  'SessionRevoker',
  'SessionManager',
  'SessionStateEndedWhileWaitingError',
  'SessionStateEndedError',
  'SessionStateStore',
  'SessionStateStoreMisconfiguredError',
  'SessionStateStoreUnavailableError',
  'SessionStateTooLargeError',
  'SessionStateOwnerCapError',
  'SessionStateUnsupportedContextError',
  'SessionStateValueError',
  'SessionStateWaitAbortedError',
  'mountSessionState',
  'claimOwnerSlot',
  'movesUnderWay',
  'MOVED_MARKER_MS',
].sort();
const TESTING_EXPORTS = ['createTestSession', 'describeSessionStateStoreConformance', 'readSession', 'seedSession'];

/**
 * `npm pack`, then the tarball unpacked into a throwaway app's node_modules (what `npm install
 * ./tarball` does for a package without install scripts), its dependencies and peers linked from
 * this repository's node_modules: offline and fast.
 */
describe('the packed tarball', () => {
  let dir: string;
  let files: string[];
  let app: string;
  let esm: Promise<{ stdout: string }>;
  let cjs: Promise<{ stdout: string }>;
  let typecheck: Promise<unknown>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-session-state-pack-'));
    const [packed] = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
    ) as { filename: string; files: { path: string }[] }[];
    files = packed.files.map((f) => f.path).sort();

    app = join(dir, 'app');
    const modules = join(app, 'node_modules');
    mkdirSync(modules, { recursive: true });
    execFileSync('tar', ['-xzf', join(dir, packed.filename), '-C', dir]);
    execFileSync('mv', [join(dir, 'package'), join(modules, 'nestjs-session-state')]);
    for (const name of readdirSync(join(root, 'node_modules'))) {
      if (!name.startsWith('.')) symlinkSync(join(root, 'node_modules', name), join(modules, name));
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'throwaway-app', private: true }));
    writeApp(app);
    // The three checks run concurrently (tsc is the slow one); the tests await their results.
    esm = run(process.execPath, ['app.mjs'], { cwd: app, encoding: 'utf8' });
    cjs = run(process.execPath, ['app.cjs'], { cwd: app, encoding: 'utf8' });
    typecheck = run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' });
    for (const p of [esm, cjs, typecheck]) p.catch(() => {}); // awaited by the tests
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships dist (JavaScript and declarations only), LICENSE, README.md and package.json; no maps, no build info', () => {
    const outside = files.filter((f) => !f.startsWith('dist/'));
    expect(outside).toEqual(['LICENSE', 'README.md', 'package.json']);
    expect(files.filter((f) => f.startsWith('dist/') && !/\.(js|d\.ts)$/.test(f))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/testing/index.js', 'dist/testing/index.d.ts']));
    // Every module has its declarations.
    const js = files.filter((f) => f.endsWith('.js'));
    expect(js.filter((f) => !files.includes(f.replace(/\.js$/, '.d.ts')))).toEqual([]);
    expect(readFileSync(join(app, 'node_modules/nestjs-session-state/LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  it('has a README that starts with the install commands that work before publication: build, pack, install this tarball', () => {
    const readme = readFileSync(join(app, 'node_modules/nestjs-session-state/README.md'), 'utf8');
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const commands = (readme.split('```')[1] ?? '').split('\n').filter((line) => line !== '' && line !== 'bash' && !line.startsWith('#'));
    // The tarball this test installed is the one the README names (npm pack's file name for this version).
    expect(readdirSync(dir)).toContain(`nestjs-session-state-${version}.tgz`);
    expect(commands.join('\n')).toMatch(/npm install && npm run build && npm pack\n.*npm install \S*\/nestjs-session-state-(\S+)\.tgz$/);
    expect(/nestjs-session-state-(\S+)\.tgz$/.exec(commands.at(-1) ?? '')?.[1]).toBe(version);
  });

  it('is imported, both entry points, by an ES module app', async () => {
    // Exactly the public API: internals (lifecycle, coordinator, interceptor, resolver…) stay internal.
    expect(JSON.parse((await esm).stdout)).toEqual({ main: MAIN_EXPORTS, testing: TESTING_EXPORTS, n: 2 });
  });

  it("is required, both entry points, by a CommonJS app (Node's require(esm), no flag needed on Node ≥ 20.19)", async () => {
    expect(JSON.parse((await cjs).stdout)).toEqual({ main: MAIN_EXPORTS, testing: TESTING_EXPORTS, n: 3 });
  });

  it('type-checks, ESM and CommonJS files, under moduleResolution nodenext', async () => {
    const output = await typecheck.then(
      () => '',
      (error: { stdout?: string; message?: string }) => error.stdout ?? error.message ?? 'typecheck failed',
    );
    expect(output).toBe('');
  }, 60_000);
});

describe('the built package', () => {
  it('exports the terminus health indicator from its own entry point, nestjs-session-state/health', () => {
    const names = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import('nestjs-session-state/health').then((m) => console.log(Object.keys(m).sort().join(',')))"],
      { cwd: root, encoding: 'utf8' },
    ).trim();
    expect(names).toBe('SessionStateHealthIndicator');
  });

  it('exports the DynamoDB store from its own entry point, nestjs-session-state/dynamodb (test/ops/optional-packages.spec.ts: the main one never loads it)', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "console.log(JSON.stringify(Object.keys(await import('nestjs-session-state/dynamodb')).sort()));\n" +
          "const { DynamoDBSessionStateStore } = await import('nestjs-session-state/dynamodb');\n" +
          "const store = new DynamoDBSessionStateStore({ tableName: 't', clientConfig: { region: 'us-east-1' } });\n" +
          'console.log(store.tableName); store.destroy();',
      ],
      { cwd: root, encoding: 'utf8' },
    ).trim();
    expect(out.split('\n')).toEqual(['["DynamoDBSessionStateStore"]', 't']);
  });
});

describe('the built package, Redis entry', () => {
  it('exports the Redis store from its own entry point, nestjs-session-state/redis (test/optional-peers.spec.ts: the main one never loads it)', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "console.log(JSON.stringify(Object.keys(await import('nestjs-session-state/redis')).sort()));\n" +
          "const { RedisSessionStateStore } = await import('nestjs-session-state/redis');\n" +
          "const store = new RedisSessionStateStore({ url: 'redis://127.0.0.1:1', application: 'app' });\n" +
          "console.log(store.key('abc')); await store.close();",
      ],
      { cwd: root, encoding: 'utf8' },
    ).trim();
    expect(out.split('\n')).toEqual(['["RedisSessionStateStore","fromIoredis"]', 'sess:app:{abc}']);
  });
});

/** The throwaway app: an ES module, a CommonJS module, and typed ESM and CommonJS files for tsc. */
function writeApp(app: string): void {
  writeFileSync(
    join(app, 'app.mjs'),
    "import * as main from 'nestjs-session-state';\nimport * as testing from 'nestjs-session-state/testing';\n" +
      "const s = testing.createTestSession({ n: 1 });\ns.set('n', 2);\n" +
      'console.log(JSON.stringify({ main: Object.keys(main).sort(), testing: Object.keys(testing).sort(), n: s.get("n") }));\n',
  );
  writeFileSync(
    join(app, 'app.cjs'),
    "const main = require('nestjs-session-state');\nconst testing = require('nestjs-session-state/testing');\n" +
      "const s = testing.createTestSession({ n: 1 });\ns.set('n', 3);\n" +
      'console.log(JSON.stringify({ main: Object.keys(main).sort(), testing: Object.keys(testing).sort(), n: s.get("n") }));\n',
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'ES2023',
        strict: true,
        noEmit: true,
        // As in Nest's application starter. (Checked without it too when this test was written: clean.)
        skipLibCheck: true,
        experimentalDecorators: true,
        types: ['node'],
      },
      files: ['typed.mts', 'typed.cts'],
    }),
  );
  writeFileSync(
    join(app, 'typed.mts'),
    `import { Controller, Module, Post } from '@nestjs/common';
import { HttpSessionState, Session, SessionStateModule, type SessionStateModuleOptions } from 'nestjs-session-state';
import {
  createTestSession,
  describeSessionStateStoreConformance,
  readSession,
  seedSession,
  type SessionStateApp,
} from 'nestjs-session-state/testing';

// The application types every session once (the type tests of an augmented SessionStateData).
declare module 'nestjs-session-state' {
  interface SessionStateData {
    count: number;
    user: { id: string };
  }
}

@Controller()
export class CounterController {
  @Post('count')
  count(@Session() s: HttpSessionState) {
    const count: number = (s.get('count') ?? 0) + 1;
    s.set('count', count);
    s.set('user', { id: 'u1' });
    const keys: ('count' | 'user')[] = s.keys();
    // @ts-expect-error the wrong type (each of these is an error only if the declarations resolve)
    s.set('count', 'one');
    // @ts-expect-error not a key of SessionStateData
    s.get('visits');
    // @ts-expect-error no untyped cast on a typed session
    s.get<number>('count');
    return { count, keys };
  }
}

const options: SessionStateModuleOptions = { saveOnError: 'client-errors', cookie: { maxAge: 60_000, partitioned: true } };
@Module({ imports: [SessionStateModule.forRoot(options)], controllers: [CounterController] })
export class AppModule {}

declare const app: SessionStateApp;
export const n: number | undefined = createTestSession({ count: 1 }).get('count');
// @ts-expect-error not a key of SessionStateData
createTestSession({ visits: 1 });
export const stored: Promise<{ count?: number; user?: { id: string } } | null> = readSession(app, 'sid=x');
export const seeded: Promise<string> = seedSession(app, { user: { id: 'u2' } });
export { describeSessionStateStoreConformance };
`,
  );
  writeFileSync(
    join(app, 'typed.cts'),
    `import sessionState = require('nestjs-session-state');
import testing = require('nestjs-session-state/testing');
// The same program as typed.mts: SessionStateData is augmented here too.
const session: sessionState.HttpSessionState = testing.createTestSession({ count: 2 });
export = session.get('count');
`,
  );
}
