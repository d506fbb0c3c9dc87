import { BadRequestException } from '@nestjs/common';
import { Args, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpSessionState, Session } from 'nestjs-session-state';

/**
 * The counter of `/counter`, over GraphQL. A query is read-only (no lock) and a mutation is
 * read-write (the session's exclusive lock for the whole HTTP request): no declaration needed.
 */
@Resolver()
export class CounterResolver {
  @Query(() => Int)
  counter(@Session() session: HttpSessionState): number {
    return session.get<number>('count') ?? 0;
  }

  @Mutation(() => Int)
  async increment(@Session() session: HttpSessionState, @Args('delayMs', { type: () => Int, nullable: true }) delayMs?: number): Promise<number> {
    if (delayMs !== undefined && delayMs !== null && !(Number.isInteger(delayMs) && delayMs >= 0 && delayMs <= 10_000)) {
      throw new BadRequestException('delayMs must be a whole number of milliseconds from 0 to 10000');
    }
    const count = session.get<number>('count') ?? 0;
    if (delayMs) await sleep(delayMs);
    session.set('count', count + 1);
    return count + 1;
  }
}
