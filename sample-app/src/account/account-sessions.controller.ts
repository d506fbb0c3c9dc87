import { Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, UnauthorizedException } from '@nestjs/common';
import { HttpSessionState, Session, SessionManager, SessionState, SessionStateBehavior, type OwnerSessionInfo } from 'nestjs-session-state';

/**
 * "Where am I signed in": the signed-in user's sessions (every device, every instance), sign out one,
 * sign out all others (`SessionManager`). A session has an owner once signed in (`POST /login`, or
 * passport's sign-in under `/auth`); without one these routes answer 401.
 */
@Controller('account/sessions')
export class AccountSessionsController {
  constructor(private readonly sessions: SessionManager) {}

  /** Read-only: listing writes nothing (the store's owner index, no scan). */
  @Get()
  @SessionState(SessionStateBehavior.ReadOnly)
  async list(@Session() session: HttpSessionState) {
    signedIn(session);
    return { sessions: (await this.sessions.list(session)).map(viewOf) };
  }

  /**
   * Signs out one session by its handle: 204, or 404 for a handle that is not one of this user's
   * sessions (another user's, forged, gone: the same answer). Read-write: the caller's own handle
   * signs the caller out (its session is removed as this request ends).
   */
  @Delete(':handle')
  @HttpCode(204)
  async signOut(@Session() session: HttpSessionState, @Param('handle') handle: string): Promise<void> {
    signedIn(session);
    if (!(await this.sessions.revoke(session, handle))) throw new NotFoundException('No such session of yours.');
  }

  /** Signs out every other session of this user; this one stays. */
  @Post('sign-out-others')
  @HttpCode(200)
  @SessionState(SessionStateBehavior.ReadOnly)
  async signOutOthers(@Session() session: HttpSessionState) {
    signedIn(session);
    return { signedOut: await this.sessions.revokeOthers(session) };
  }
}

function signedIn(session: HttpSessionState): void {
  if (session.owner === undefined) throw new UnauthorizedException('Sign in first: POST /login or the sign-in form.');
}

/** The JSON of one session: dates as ISO strings, the client only when recorded. */
function viewOf(info: OwnerSessionInfo) {
  return {
    handle: info.handle,
    current: info.current,
    created: info.created?.toISOString() ?? null,
    lastActive: info.lastActive.toISOString(),
    expires: info.expires.toISOString(),
    client: info.client,
  };
}
