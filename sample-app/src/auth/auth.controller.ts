import { Controller, Get, Post, Redirect, Req, UseFilters, UseGuards } from '@nestjs/common';
import { HttpSessionState, Session, SessionState, SessionStateBehavior } from 'nestjs-session-state';
import { LocalAuthGuard } from './local-auth.guard.js';
import { LoginFailedFilter } from './login-failed.filter.js';
import type { User } from './users.js';

/** What passport puts on the request (Express's `req`, Fastify's `request`). */
interface PassportRequest {
  user?: User;
  logout(done: (error?: unknown) => void): void;
}

/** The page's sign-in box, on passport (GET / serves the page). */
@Controller('auth')
export class AuthController {
  /**
   * The form's POST (`username`, `password`): passport-local checks them, `logIn` moves the session
   * to a new id (fixation) keeping its data, and the browser goes back to the page, signed in. A
   * wrong password goes back to `/?login=failed`.
   */
  @Post('login')
  @SessionState(SessionStateBehavior.Required)
  @UseGuards(LocalAuthGuard)
  @UseFilters(LoginFailedFilter)
  @Redirect('/', 303)
  login(): void {}

  /** passport's `logout()`: the user leaves the session, which moves to a new id; back to the page. */
  @Post('logout')
  @SessionState(SessionStateBehavior.Required)
  @Redirect('/', 303)
  async logout(@Req() req: PassportRequest): Promise<void> {
    await new Promise<void>((resolve, reject) => req.logout((error) => (error ? reject(error as Error) : resolve())));
  }

  /** Who is signed in (passport's `req.user`), and whether this client has a session yet (the page's "send 50" needs one). */
  @Get('me')
  @SessionState(SessionStateBehavior.ReadOnly)
  me(@Session() session: HttpSessionState, @Req() req: PassportRequest) {
    return { user: req.user?.username ?? null, session: !session.isNew };
  }
}
