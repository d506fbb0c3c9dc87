import { randomBytes } from 'node:crypto';
import { BadRequestException, Controller, Get, HttpCode, Module, Post, Put, Query, Session } from '@nestjs/common';

type PeerSession = Record<string, unknown>;

/** PEER_STORE=none (the floor): no session middleware, so `@Session()` reads nothing; a fresh empty session stands in. */
const orEmpty = (session: PeerSession | undefined): PeerSession => session ?? {};

/** The sample app's counter, notes and ping routes, on express-session. */
@Controller()
class PeerController {
  @Get('ping')
  ping(): string {
    return 'pong';
  }

  @Get('counter')
  read(@Session() given: PeerSession) {
    const session = orEmpty(given);
    return { count: (session.count as number | undefined) ?? 0 };
  }

  @Post('counter')
  @HttpCode(200)
  increment(@Session() given: PeerSession) {
    const session = orEmpty(given);
    session.count = ((session.count as number | undefined) ?? 0) + 1;
    return { count: session.count };
  }

  @Put('notes')
  @HttpCode(200)
  setNotes(@Session() session: PeerSession, @Query('kb') kb?: string) {
    const size = kb !== undefined && /^\d{1,3}$/.test(kb) ? Number(kb) : NaN;
    if (!(size >= 0 && size <= 300)) throw new BadRequestException('kb must be a whole number from 0 to 300');
    session.notes = randomBytes((size * 1024) / 2).toString('hex');
    return { length: size * 1024 };
  }

  @Get('notes')
  notes(@Session() session: PeerSession) {
    return { length: (session.notes as string | undefined)?.length ?? 0 };
  }
}

@Module({ controllers: [PeerController] })
export class PeerModule {}
