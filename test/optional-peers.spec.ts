import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** A module resolve hook that fails any import of the optional GraphQL / WebSocket packages. */
const hooks = `
const optional = /^(@nestjs\\/(graphql|apollo|mercurius|websockets|platform-socket\\.io|platform-ws)|graphql|mercurius|@apollo\\/server|@as-integrations\\/express5|socket\\.io|ws)(\\/|$)/;
export async function resolve(specifier, context, next) {
  if (optional.test(specifier)) throw new Error('optional package loaded: ' + specifier);
  return next(specifier, context);
}`;

/** Runs `body` in a fresh Node process (ESM) in which the optional packages cannot be loaded. */
function runWithoutOptionalPackages(body: string): string {
  const script = `
    import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}), import.meta.url);
    ${body}`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' }).trim();
}

describe('the optional GraphQL and WebSocket packages', () => {
  it('are never loaded by an application without them: the built package imports, boots and closes', () => {
    const out = runWithoutOptionalPackages(`
      const { SessionStateModule } = await import('nestjs-session-state');
      const { NestFactory } = await import('@nestjs/core');
      const { Module } = await import('@nestjs/common');
      class App {}
      Module({ imports: [SessionStateModule.forRoot({})] })(App);
      const app = await NestFactory.create(App, { logger: false });
      await app.init();
      await app.close();
      console.log('booted');
      // Control, in the same process: the probe does catch a load of one of them.
      await import('@nestjs/graphql').then(() => console.log('loaded'), (e) => console.log(e.message));`);
    expect(out.split('\n')).toEqual(['booted', 'optional package loaded: @nestjs/graphql']);
  });
});

describe('the optional Redis client', () => {
  const redisHooks = `
const optional = /^(redis|ioredis|@redis\\/[^/]+)(\\/|$)/;
export async function resolve(specifier, context, next) {
  if (optional.test(specifier)) throw new Error('optional package loaded: ' + specifier);
  return next(specifier, context);
}`;

  it('is never loaded by an application on another store (the root entry boots and closes), nor by the Redis entry until a store makes its own client', () => {
    const script = `
      import { register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(redisHooks)}), import.meta.url);
      const { SessionStateModule } = await import('nestjs-session-state');
      await import('nestjs-session-state/testing');
      const { NestFactory } = await import('@nestjs/core');
      const { Module } = await import('@nestjs/common');
      class App {}
      Module({ imports: [SessionStateModule.forRoot({})] })(App);
      const app = await NestFactory.create(App, { logger: false });
      await app.init();
      await app.close();
      console.log('booted');
      // The Redis entry itself does not load it either (an app may run it on ioredis) ...
      const { RedisSessionStateStore } = await import('nestjs-session-state/redis');
      console.log('entry imported');
      // ... only a store that makes its own client does, at init(); the probe catches that (control).
      await new RedisSessionStateStore({ url: 'redis://127.0.0.1:1' }).init().then(() => console.log('loaded'), (e) => console.log(e.cause.message));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' }).trim();
    expect(out.split('\n')).toEqual(['booted', 'entry imported', 'optional package loaded: redis']);
  });
});
