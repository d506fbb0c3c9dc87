import type { INestApplication } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mountSessionState } from 'nestjs-session-state';
import passport from 'passport';
import { FASTIFY_AUTHENTICATOR, type FastifyAuthenticator } from './fastify-passport.js';

/** The routes that need `req.session` (passport's sign-in): the mount serves them alone. */
const AUTH_PATH = '/auth';

/**
 * main.ts's lines of the passport recipe, with express-session's `app.use(session(…))` replaced by
 * `mountSessionState` (docs/PASSPORT.md), before `init()`/`listen()`. Under `/auth` only: the
 * mount reads the session of every request with a cookie it serves (express-session's cost), and
 * the other routes (`/ping`, `/counter`…) keep theirs (none without `@Session()`).
 */
export async function mountSessionAndPassport(app: INestApplication): Promise<void> {
  await mountSessionState(app, { path: AUTH_PATH });
  if (app.getHttpAdapter().getType() === 'fastify') {
    // @fastify/passport: initialize() (request.logIn/logOut); its secureSession() would run on every
    // request, so FastifySessionUserGuard does its work on the /auth routes instead.
    const authenticator = app.get<symbol, FastifyAuthenticator>(FASTIFY_AUTHENTICATOR);
    await (app as NestFastifyApplication).register(authenticator.initialize());
  } else {
    app.use(AUTH_PATH, passport.initialize(), passport.session());
  }
}
