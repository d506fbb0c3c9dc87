/**
 * Options that are not what the module expects, from a `forRootAsync` factory (one that forgot its
 * `return`, or answers null) or a JavaScript config object, stop the application at startup with a
 * message naming what is wrong, never run on defaults the operator did not choose (an in-memory
 * store in a multi-instance deployment, the default cookie). One rule for null: an option left out
 * takes its default, null is refused like any other wrong value.
 */
import { Controller, Get, Injectable, Module } from '@nestjs/common';
import { SessionStateModule } from '../src/index.js';
import { optionsError } from './support/options-error.js';
import { createTestApp } from './support/test-app.js';

@Controller('who')
class WhoController {
  @Get()
  who() {
    return 'ok';
  }
}

@Injectable()
class NullOptions {
  createSessionStateOptions() {
    return null;
  }
}

/** The startup error of an application importing `module` (or these modules), or '(started)' (then closed again). */
async function startupError(module: unknown): Promise<string> {
  try {
    const imports = (Array.isArray(module) ? module : [module]) as never[];
    const app = await createTestApp('express', { imports, controllers: [WhoController] });
    await app.close();
    return '(started)';
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as Error).message;
  }
}

describe('options that are not an options object', () => {
  it.each([
    ['null', null, 'got null'],
    ['nothing (a forgotten return)', undefined, 'got undefined (a forgotten return?)'],
    ['a number', 5, 'got number 5'],
    ['a string', 'sessions', 'got string "sessions"'],
    ['an array', [], 'got an array'],
  ])('a forRootAsync factory answering %s stops startup, naming useFactory', async (_what, answer, got) => {
    const message = await startupError(SessionStateModule.forRootAsync({ useFactory: () => answer as never }));
    expect(message).toBe(
      `SessionStateModule: invalid options:\n- forRootAsync: what useFactory answers must be an options object ({} for every default), ${got}`,
    );
  });

  it('an options class whose createSessionStateOptions() answers null stops startup, naming it', async () => {
    expect(await startupError(SessionStateModule.forRootAsync({ useClass: NullOptions as never }))).toContain(
      'forRootAsync: what NullOptions.createSessionStateOptions() answers must be an options object',
    );
  });

  it('SessionStateModule imported without forRoot() stops startup, saying how to import it', async () => {
    expect(await startupError(SessionStateModule)).toBe(
      'SessionStateModule is imported without options: import SessionStateModule.forRoot() (or forRootAsync()) once, in the ' +
        'root module. It is global (unless isGlobal: false): the other modules inject its providers without importing it.',
    );
  });

  it('a feature module importing SessionStateModule beside the root forRoot() stops startup the same way', async () => {
    @Module({ imports: [SessionStateModule] })
    class FeatureModule {}
    expect(await startupError([SessionStateModule.forRoot(), FeatureModule])).toContain('SessionStateModule is imported without options');
  });

  it('forRoot with options that are not an object (a JavaScript config) is refused', () => {
    expect(optionsError(null)).toContain('the options of SessionStateModule.forRoot must be an options object');
  });
});

describe('null and non-object option values', () => {
  it('store: null (`useRedis ? redisStore : null`) is refused, not replaced by an in-memory store', async () => {
    expect(await startupError(SessionStateModule.forRoot({ store: null as never }))).toContain('store must be a SessionStateStore');
  });

  it.each([
    [{ cookie: 'app_sid' }, 'cookie must be an object'],
    [{ cookie: null }, 'cookie must be an object'],
    [{ lockWait: 5 }, 'lockWait must be an object'],
    [{ lockWait: 'none' }, 'lockWait must be an object'],
  ])('%j is refused, not ignored', async (options, message) => {
    expect(await startupError(SessionStateModule.forRoot(options as never))).toContain(message);
  });

  it.each([
    [{ timeout: null }, 'timeout must be'],
    [{ executionTimeout: null }, 'executionTimeout must be'],
    [{ absoluteTimeout: null }, 'absoluteTimeout must be'],
    [{ recordClient: null }, 'recordClient must be'],
    [{ saveOnError: null }, 'saveOnError must be'],
    [{ cookie: { name: null } }, 'cookie.name must be'],
    [{ cookie: { httpOnly: null } }, 'cookie.httpOnly must be'],
    [{ lockWait: { pollMinMs: null } }, 'lockWait.pollMinMs must be'],
    [{ maxSessionsPerOwner: 2, ownerCapPolicy: null }, 'ownerCapPolicy must be'],
  ])('null is a wrong value like any other: %j is refused (leave an option out for its default)', (options, message) => {
    expect(optionsError(options)).toContain(message);
  });
});
