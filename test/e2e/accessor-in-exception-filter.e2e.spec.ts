/**
 * An exception filter that asks SessionStateAccessor for the session (an error page naming the
 * signed-in user) passes it the filter's ArgumentsHost, which has no handler. The accessor refuses
 * with a SessionStateError saying what to do, instead of a TypeError with an empty message; the
 * request's session is completed as usual (the next request is not kept waiting).
 */
import {
  BadRequestException,
  Catch,
  Controller,
  Get,
  HttpException,
  Injectable,
  Post,
  UseFilters,
  type ArgumentsHost,
  type ExceptionFilter,
  type ExecutionContext,
} from '@nestjs/common';
import type { Response } from 'express';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateAccessor, SessionStateModule } from 'nestjs-session-state';
import { createTestApp, sessionCookie } from '../support/test-app.js';

@Injectable()
@Catch(HttpException)
class ErrorPageFilter implements ExceptionFilter {
  constructor(private readonly sessions: SessionStateAccessor) {}
  async catch(error: HttpException, host: ArgumentsHost) {
    let outcome: { user?: unknown; thrown?: { name: string; message: string } };
    try {
      outcome = { user: (await this.sessions.get(host as ExecutionContext)).get('user') ?? null };
    } catch (thrown) {
      outcome = { thrown: { name: (thrown as Error).name, message: (thrown as Error).message } };
    }
    host.switchToHttp().getResponse<Response>().status(error.getStatus()).json(outcome);
  }
}

@Controller()
@UseFilters(ErrorPageFilter)
class ShopController {
  @Post('login')
  login(@Session() session: HttpSessionState) {
    session.set('user', 'ann');
    return {};
  }

  @Post('checkout')
  checkout(@Session() session: HttpSessionState) {
    session.set('tried', true);
    throw new BadRequestException('cart is empty');
  }

  @Get('user')
  user(@Session() session: HttpSessionState) {
    return { user: session.get('user') ?? null };
  }
}

describe('SessionStateAccessor.get() from an exception filter', () => {
  it('throws a SessionStateError saying it needs a guard’s, an interceptor’s or a handler’s context, and what to do', async () => {
    const app = await createTestApp('express', {
      imports: [SessionStateModule.forRoot()],
      controllers: [ShopController],
      providers: [ErrorPageFilter],
    });
    try {
      const cookie = sessionCookie((await request(app.getHttpServer()).post('/login').expect(201)).headers)!;
      const answer = await request(app.getHttpServer()).post('/checkout').set('Cookie', cookie).expect(400);
      expect(answer.body.thrown.name).toBe('SessionStateError');
      expect(answer.body.thrown.message).toMatch(/^SessionStateAccessor\.get\(\) needs the ExecutionContext of a guard, an interceptor or a handler/);
      expect(answer.body.thrown.message).toMatch(/exception filter's ArgumentsHost/);
      expect(answer.body.thrown.message).toMatch(/read what the error answer needs from the session in the handler or a guard/);
      // The failed request's session was completed as usual: the next one gets it at once.
      await request(app.getHttpServer()).get('/user').set('Cookie', cookie).expect(200, { user: 'ann' });
    } finally {
      await app.close();
    }
  });
});
