import type { INestApplication } from '@nestjs/common';
import { RequestSessionGuard } from './request-session.guard.js';
import { SessionStateMiddleware } from './request-session.mount.js';

export interface MountSessionStateOptions {
  /**
   * Only requests under this path (`'/auth'`: `/auth` and `/auth/…`) get `req.session`; the others
   * pass through untouched and keep their own cost (none for a route without the session). Default:
   * every request.
   */
  path?: string;
}

/**
 * Gives every request `req.session` (express-session's API on Express, @fastify/session's on
 * Fastify), in place of `app.use(session({...}))`: call it before `app.use(passport.initialize())`
 * (Express) or `app.register(fastifyPassport.initialize())` (Fastify), and before `app.listen()`
 * (or `app.init()`): it also makes `RequestSessionGuard` a global guard, which runs before the
 * app's controller and route guards. See docs/PASSPORT.md.
 *
 *   await mountSessionState(app);
 *   await mountSessionState(app, { path: '/auth' });   // only the routes that need req.session
 */
export async function mountSessionState(app: INestApplication, options: MountSessionStateOptions = {}): Promise<void> {
  const { path } = options;
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) {
    throw new TypeError(`mountSessionState: path must be a string starting with '/' (got ${JSON.stringify(path)})`);
  }
  const middleware = app.get(SessionStateMiddleware, { strict: false });
  middleware.mounted = true;
  middleware.path = path;
  app.useGlobalGuards(app.get(RequestSessionGuard, { strict: false }));
  if (app.getHttpAdapter().getType() === 'fastify') {
    await (app as unknown as { register(plugin: unknown): Promise<unknown> }).register(middleware.fastifyPlugin);
  } else if (path !== undefined) {
    app.use(path, middleware.use); // matched by Express itself, as its routes are
  } else {
    app.use(middleware.use);
  }
}
