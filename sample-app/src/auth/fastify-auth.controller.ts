import { Controller, Get, Post, Redirect, Req, UseFilters, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { HttpSessionState, Session, SessionState, SessionStateBehavior } from 'nestjs-session-state';
import { FastifyLocalAuthGuard, FastifySessionUserGuard } from './fastify-auth.guards.js';
import { LoginFailedFilter } from './login-failed.filter.js';
import type { User } from './users.js';

/** The page's sign-in box on Fastify, with @fastify/passport (the Express one: auth.controller.ts). */
@Controller('auth')
export class FastifyAuthController {
  @Post('login')
  @SessionState(SessionStateBehavior.Required)
  @UseGuards(FastifyLocalAuthGuard)
  @UseFilters(LoginFailedFilter)
  @Redirect('/', 303)
  login(): void {}

  @Post('logout')
  @SessionState(SessionStateBehavior.Required)
  @UseGuards(FastifySessionUserGuard)
  @Redirect('/', 303)
  async logout(@Req() request: FastifyRequest): Promise<void> {
    await request.logOut();
  }

  @Get('me')
  @SessionState(SessionStateBehavior.ReadOnly)
  @UseGuards(FastifySessionUserGuard)
  me(@Session() session: HttpSessionState, @Req() request: FastifyRequest) {
    return { user: (request.user as User | null | undefined)?.username ?? null, session: !session.isNew };
  }
}
