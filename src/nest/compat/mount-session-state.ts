import type { INestApplication } from '@nestjs/common';
import { RequestSessionGuard } from './request-session.guard.js';
import { SessionStateMiddleware } from './request-session.mount.js';

/**
 * Gives every request `req.session` (express-session's API on Express, @fastify/session's on
 * Fastify), in place of `app.use(session({...}))`: call it before `app.use(passport.initialize())`
 * (Express) or `app.register(fastifyPassport.initialize())` (Fastify), and before `app.listen()`
 * (or `app.init()`): it also makes `RequestSessionGuard` a global guard, which runs before the
 * app's controller and route guards. See docs/PASSPORT.md.
 *
 *   await mountSessionState(app);
 */
export async function mountSessionState(app: INestApplication): Promise<void> {
  const middleware = app.get(SessionStateMiddleware, { strict: false });
  middleware.mounted = true;
  app.useGlobalGuards(app.get(RequestSessionGuard, { strict: false }));
  if (app.getHttpAdapter().getType() === 'fastify') {
    await (app as unknown as { register(plugin: unknown): Promise<unknown> }).register(middleware.fastifyPlugin);
  } else {
    app.use(middleware.use);
  }
}
