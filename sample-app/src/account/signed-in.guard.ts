import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { SessionStateAccessor } from 'nestjs-session-state';

/** Guards run before interceptors: they get the session through `SessionStateAccessor`. */
@Injectable()
export class SignedInGuard implements CanActivate {
  constructor(private readonly sessions: SessionStateAccessor) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const session = await this.sessions.get(context);
    if (!session.has('user')) throw new UnauthorizedException('Sign in first: POST /login');
    return true;
  }
}
