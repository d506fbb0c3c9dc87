import { randomBytes } from 'node:crypto';
import { BadRequestException, Controller, Get, HttpCode, Put, Query } from '@nestjs/common';
import { HttpSessionState, Session } from 'nestjs-session-state';

/**
 * A session of a chosen size, for `npm run bench:cost`: notes of random hex (gzip halves them, as
 * it would typical JSON), generated here so no request body limit is in the way.
 */
@Controller('notes')
export class NotesController {
  /** Read-write: replaces the notes with `kb` KB (0 to 300) of random hex. */
  @Put()
  @HttpCode(200)
  set(@Session() session: HttpSessionState, @Query('kb') kb?: string) {
    const size = kb !== undefined && /^\d{1,3}$/.test(kb) ? Number(kb) : NaN;
    if (!(size >= 0 && size <= 300)) throw new BadRequestException('kb must be a whole number from 0 to 300');
    session.set('notes', randomBytes((size * 1024) / 2).toString('hex'));
    return { length: size * 1024 };
  }

  /** Read-write (the default for a handler taking the session) that changes nothing. */
  @Get()
  length(@Session() session: HttpSessionState) {
    const notes = session.get('notes');
    return { length: typeof notes === 'string' ? notes.length : 0 };
  }
}
