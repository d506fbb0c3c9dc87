import { BadRequestException } from '@nestjs/common';
import { Args, Mutation, Query, Resolver } from '@nestjs/graphql';
import { HttpSessionState, Session } from 'nestjs-session-state';

/** `/login`, `/me` and `/logout`, over GraphQL: the same session, the same cookie. */
@Resolver()
export class AccountResolver {
  /** Moves the session to a new id (session-fixation defence); the new cookie goes out with the response. */
  @Mutation(() => String)
  login(@Session() session: HttpSessionState, @Args('user', { type: () => String }) user: string): string {
    if (user.length === 0 || user.length > 64) throw new BadRequestException('user must be a non-empty string of at most 64 characters');
    session.regenerateId();
    session.set('user', user);
    return user;
  }

  @Query(() => String, { nullable: true })
  me(@Session() session: HttpSessionState): string | null {
    const user = session.get('user');
    return typeof user === 'string' ? user : null;
  }

  /** Ends the session: the store removes it and the cookie is cleared. */
  @Mutation(() => Boolean)
  logout(@Session() session: HttpSessionState): boolean {
    session.abandon();
    return true;
  }
}
