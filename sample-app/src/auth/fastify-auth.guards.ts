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
 * so that the other routes keep their cost.
 */
@Injectable()
export class FastifySessionUserGuard implements CanActivate {
  constructor(@Inject(FASTIFY_AUTHENTICATOR) private readonly authenticator: FastifyAuthenticator) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    await this.authenticator.authenticate('session').call(reply.server, context.switchToHttp().getRequest<FastifyRequest>(), reply);
    return true;
  }
}
