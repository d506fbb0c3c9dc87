import { Controller, Get } from '@nestjs/common';
import { HttpSessionState, Session, SessionState, SessionStateBehavior } from 'nestjs-session-state';

/** The page's sign-in box (GET / serves the page). */
@Controller('auth')
export class AuthController {
  /** Who is signed in, and whether this client has a session yet (the page's "send 50" needs one). */
  @Get('me')
  @SessionState(SessionStateBehavior.ReadOnly)
  me(@Session() session: HttpSessionState) {
    return { user: session.get<string>('user') ?? null, session: !session.isNew };
  }
}
