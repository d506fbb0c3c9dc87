/**
 * @fastify/passport's session strategy run by a guard on a ReadOnly route (as the sample app once
 * did) instead of secureSession(). A session whose user passport can no longer find makes the
 * strategy log the user out — removals, after the route is known to hold no lock, from a promise
 * chain whose rejection nobody handles: applied to the request's copy, not saved, with a warning,
 * never a hang.
 */
import { Controller, Get, Inject, Injectable, Module, Req, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyReply, FastifyRequest } from 'fastify';
import request from 'supertest';
import { InMemorySessionStateStore, SessionState, SessionStateBehavior, mountSessionState } from '../../src/index.js';
import { sessionCookie } from '../support/test-app.js';
import { FASTIFY_PASSPORT, createAuthenticator, fastifyPassportModule } from '../e2e/fixtures/fastify-passport-app.js';
import { USERS } from '../e2e/fixtures/passport-recipe.js';

type Authenticator = ReturnType<typeof createAuthenticator>;

/** The sample app's former FastifySessionUserGuard: runs the session strategy. */
@Injectable()
class SessionUserGuard implements CanActivate {
  constructor(@Inject(FASTIFY_PASSPORT) private readonly authenticator: Authenticator) {}
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    await this.authenticator.authenticate('session').call(reply.server, context.switchToHttp().getRequest<FastifyRequest>(), reply);
    return true;
  }
}

@Controller('auth')
class SampleLikeController {
  @Get('me')
  @SessionState(SessionStateBehavior.ReadOnly)
  @UseGuards(SessionUserGuard)
  me(@Req() request: FastifyRequest) {
    return { user: (request.user as { username?: string } | null | undefined)?.username ?? null };
  }
}

describe("@fastify/passport's session strategy in a guard on a ReadOnly route", () => {
  it('a session whose user was deleted: /auth/me answers signed out (no hang, no unhandled rejection), as on Express', async () => {
    const passport = createAuthenticator();
    const store = new InMemorySessionStateStore();
    @Module({
      imports: [fastifyPassportModule(store, passport)],
      controllers: [SampleLikeController],
      providers: [SessionUserGuard, { provide: FASTIFY_PASSPORT, useValue: passport }],
    })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await mountSessionState(app);
    await app.register(passport.initialize()); // as the sample app: no secureSession()
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    try {
      const login = await request(app.getHttpServer()).post('/login').send({ username: 'maria', password: 'guess' });
      expect(login.status).toBeLessThan(400);
      const cookie = sessionCookie(login.headers)!;
      await request(app.getHttpServer()).get('/auth/me').set('Cookie', cookie).expect(200, { user: 'maria' });
      const maria = USERS.splice(1, 1);
      try {
        // A throw here would leave the guard's promise unsettled (no answer) and reject unhandled.
        const res = await request(app.getHttpServer())
          .get('/auth/me')
          .set('Cookie', cookie)
          .timeout(3000)
          .then(
            (r) => ({ status: r.status, body: r.body as unknown }),
            (e: Error) => ({ status: e.message, body: undefined }),
          );
        expect(res).toEqual({ status: 200, body: { user: null } });
      } finally {
        USERS.splice(1, 0, ...maria);
      }
    } finally {
      await app.close(); // no request left hanging: closes at once
    }
  });
});
