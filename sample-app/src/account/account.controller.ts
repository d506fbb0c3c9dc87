import { BadRequestException, Body, Controller, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import { HttpSessionState, Session, SessionState, SessionStateBehavior, type JsonValue } from 'nestjs-session-state';
import { SignedInGuard } from './signed-in.guard.js';

@Controller()
export class AccountController {
  /**
   * Login moves the session to a new id (session-fixation defence) and keeps its data (the cart); the
   * user becomes the session's owner (its list of sessions: `/account/sessions`).
   */
  @Post('login')
  @HttpCode(200)
  login(@Session() session: HttpSessionState, @Body() body: unknown) {
    const user = (body as { user?: unknown } | undefined)?.user;
    if (typeof user !== 'string' || user.length === 0 || user.length > 64) {
      throw new BadRequestException('user must be a non-empty string of at most 64 characters');
    }
    session.regenerateId();
    session.set('user', user);
    session.owner = user;
    return { user };
  }

  @Get('me')
  @SessionState(SessionStateBehavior.ReadOnly)
  me(@Session() session: HttpSessionState) {
    return { user: session.get<string>('user') ?? null };
  }

  /** Ends the session: the store removes it and the cookie is cleared. */
  @Post('logout')
  @HttpCode(200)
  logout(@Session() session: HttpSessionState) {
    session.abandon();
    return { user: null };
  }

  /** Only for signed-in users; the guard reads the session before the handler runs. */
  @Get('account')
  @UseGuards(SignedInGuard)
  @SessionState(SessionStateBehavior.ReadOnly)
  account(@Session() session: HttpSessionState) {
    return { user: session.get<string>('user'), cartItems: session.get<JsonValue[]>('cart')?.length ?? 0 };
  }
}
