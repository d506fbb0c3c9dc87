import { BadRequestException, Controller, Get, HttpCode, InternalServerErrorException, Post, Query } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpSessionState, Session, SessionState, SessionStateBehavior } from 'nestjs-session-state';

@Controller('counter')
export class CounterController {
  /** Read-only: no lock, so any number of these run side by side. */
  @Get()
  @SessionState(SessionStateBehavior.ReadOnly)
  read(@Session() session: HttpSessionState) {
    return { count: session.get<number>('count') ?? 0 };
  }

  /**
   * Read-modify-write with simulated work in between: with the session's exclusive lock, concurrent
   * increments of one session never lose an update. `fail=1` throws after writing: the write is discarded.
   */
  @Post()
  @HttpCode(200)
  async increment(@Session() session: HttpSessionState, @Query('delayMs') delayMs?: string, @Query('fail') fail?: string) {
    const delay = delayMs === undefined ? 0 : /^\d{1,5}$/.test(delayMs) ? Number(delayMs) : NaN;
    if (!(delay >= 0 && delay <= 10_000)) {
      throw new BadRequestException('delayMs must be a whole number of milliseconds from 0 to 10000');
    }
    const count = session.get<number>('count') ?? 0;
    if (delay > 0) await sleep(delay);
    session.set('count', count + 1);
    if (fail === '1') throw new InternalServerErrorException('Simulated failure: this increment is discarded');
    return { count: count + 1 };
  }
}
