import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { PassportModule } from '@nestjs/passport';
import { TerminusModule } from '@nestjs/terminus';
import { SessionStateModule } from 'nestjs-session-state';
import { SessionStateHealthIndicator } from 'nestjs-session-state/health';
import { AccountController } from './account/account.controller.js';
import { AccountSessionsController } from './account/account-sessions.controller.js';
import { AuthController } from './auth/auth.controller.js';
import { FastifyAuthController } from './auth/fastify-auth.controller.js';
import { FastifyLocalAuthGuard, FastifySessionUserGuard } from './auth/fastify-auth.guards.js';
import { FASTIFY_AUTHENTICATOR, createFastifyAuthenticator } from './auth/fastify-passport.js';
import { LocalStrategy } from './auth/local.strategy.js';
import { SessionSerializer } from './auth/session.serializer.js';
import { CartController } from './cart/cart.controller.js';
import { CounterController } from './counter/counter.controller.js';
import { HealthController } from './health/health.controller.js';
import { HomeController } from './home/home.controller.js';
import { CounterGateway } from './counter/counter.gateway.js';
import { AccountResolver } from './graphql/account.resolver.js';
import { CounterResolver } from './graphql/counter.resolver.js';
import { graphqlModuleFor, type HttpAdapterName } from './graphql/graphql.module.js';
import { NotesController } from './notes/notes.controller.js';
import { PingController } from './ping.controller.js';
import { createSessionStore } from './session-store.factory.js';

@Module({
  imports: [
    ConfigModule.forRoot(),
    SessionStateModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        store: createSessionStore(config),
        timeout: 20,
        // Sign the id cookie when a secret is configured (comma-separated: first signs, all verify).
        secret: config.get<string>('SESSION_SECRET')?.split(','),
        // Native clients without a cookie jar may carry the id in this header (docs/ID-HEADER.md);
        // SESSION_ID_HEADER= (empty) turns it off. Browsers keep the cookie.
        idHeader: config.get<string>('SESSION_ID_HEADER', 'x-session-id') || undefined,
        // /account/sessions shows each session's browser and address (recorded at sign-in).
        recordClient: true,
      }),
    }),
    // NestJS's passport session recipe; keepSessionInfo: the cart and the counter survive the login.
    PassportModule.register({ session: true, keepSessionInfo: true }),
    TerminusModule.forRoot(),
  ],
  controllers: [
    HomeController,
    PingController,
    CounterController,
    CartController,
    AccountController,
    AccountSessionsController,
    HealthController,
    NotesController,
  ],
  providers: [LocalStrategy, SessionSerializer, SessionStateHealthIndicator, CounterResolver, AccountResolver, CounterGateway],
})
export class AppModule {
  /**
   * The app with `/graphql` served by the adapter's GraphQL server (Apollo on Express, Mercurius on
   * Fastify), and its sign-in by the adapter's passport (@nestjs/passport, @fastify/passport).
   */
  static forAdapter(adapter: HttpAdapterName): DynamicModule {
    const auth: Pick<DynamicModule, 'controllers' | 'providers'> =
      adapter === 'fastify'
        ? {
            controllers: [FastifyAuthController],
            providers: [{ provide: FASTIFY_AUTHENTICATOR, useFactory: createFastifyAuthenticator }, FastifyLocalAuthGuard, FastifySessionUserGuard],
          }
        : { controllers: [AuthController] };
    return { module: AppModule, imports: [graphqlModuleFor(adapter)], ...auth };
  }
}
