import type { INestApplication } from '@nestjs/common';
import { SessionStateMiddleware } from 'nestjs-session-state';
import passport from 'passport';

/**
 * main.ts's lines of NestJS's passport session recipe, with express-session's `app.use(session(…))`
 * replaced by this module's middleware (docs/PASSPORT.md), before `init()`/`listen()`. Only under
 * `/auth`, the routes that need `req.user`: the mount reads the session of every request with a
 * cookie that it serves (express-session's cost), and the other routes (`/ping`, `/counter`…) keep
 * theirs (none without `@Session()`, one read for a read-only route).
 */
export function mountSessionAndPassport(app: INestApplication): void {
  if (app.getHttpAdapter().getType() !== 'express') return; // Fastify: @fastify/passport, not mounted yet
  app.use('/auth', app.get(SessionStateMiddleware).use, passport.initialize(), passport.session());
}
