import { Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FASTIFY_AUTHENTICATOR, type FastifyAuthenticator } from './fastify-passport.js';
import type { User } from './users.js';

/**
 * @nestjs/passport's `AuthGuard('local')` + `logIn`, for @fastify/passport (which @nestjs/passport
 * does not support): checks the password with the callback form of `authenticate` (passport answers
 * nothing itself), then logs in keeping the session's data. A wrong password is a 401 (the page's
 * filter turns it into a redirect).
 */
@Injectable()
export class FastifyLocalAuthGuard implements CanActivate {
  constructor(@Inject(FASTIFY_AUTHENTICATOR) private readonly authenticator: FastifyAuthenticator) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    let user: User | undefined;
    await this.authenticator
      .authenticate('local', async (_request, _reply, error, found) => {
        if (error) throw error;
        user = (found as User | false | undefined) || undefined;
      })
      .call(reply.server, request, reply);
    if (!user) throw new UnauthorizedException();
    await request.logIn(user, { keepSessionInfo: true });
    return true;
  }
}

/**
 * What @fastify/passport's `secureSession()` does for every request (`request.user` from the
 * session), for the routes of this controller only: the session is mounted under `/auth` alone,
 * so that the other routes keep their cost. It only reads: a session naming a user who no longer
 * exists reads as signed out (passport's session strategy would log that user out, a write, which a
 * `ReadOnly` route such as `/auth/me` does not save); the next login replaces it.
 */
@Injectable()
export class FastifySessionUserGuard implements CanActivate {
  constructor(@Inject(FASTIFY_AUTHENTICATOR) private readonly authenticator: FastifyAuthenticator) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const stored = (request as unknown as { session?: { get(key: string): unknown } | null }).session?.get('passport');
    const user = stored === undefined ? null : await this.authenticator.deserializeUser(stored, request);
    request.user = (user || null) as FastifyRequest['user'];
    return true;
  }
}
