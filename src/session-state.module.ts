import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { SessionStateApolloPlugin } from './graphql/apollo-session.plugin.js';
import { GraphQLSessionFields } from './graphql/graphql-session-fields.js';
import { GraphQLSessionHooks } from './graphql/graphql-session-hooks.js';
import { MercuriusSessionHooks } from './graphql/mercurius-session.hooks.js';
import { observabilityProviders } from './observability/observed-store.provider.js';
import { SessionStateObserver } from './observability/session-state-observer.js';
import { SessionRevoker } from './session-revoker.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateDeclarations } from './session-state-declarations.js';
import { SessionStateAccessor } from './session-state.accessor.js';
import { SESSION_STATE_OPTIONS } from './session-state.constants.js';
import { SessionStateInterceptor } from './session-state.interceptor.js';
import { SessionStateLifecycle } from './session-state.lifecycle.js';
import { ConfigurableSessionStateModule, SESSION_STATE_MODULE_OPTIONS } from './session-state.module-definition.js';
import { resolveSessionStateOptions, type ResolvedSessionStateOptions, type SessionStateModuleOptions } from './session-state.options.js';
import { SessionStateStore } from './store/session-state-store.js';
import { WsUpgradeRecorder } from './ws/ws-upgrade-recorder.js';

/**
 * `SessionStateModule.forRoot({ store, timeout, ... })` or `.forRootAsync({ imports, inject, useFactory })`.
 * Provides the store (token: `SessionStateStore`), `SessionStateAccessor`, `SessionRevoker`, the
 * global interceptor that runs the session lifecycle of HTTP requests and WebSocket messages, and
 * the request hooks of GraphQL servers (Apollo, Mercurius).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: SESSION_STATE_OPTIONS,
      useFactory: (options: SessionStateModuleOptions) => resolveSessionStateOptions(options),
      inject: [SESSION_STATE_MODULE_OPTIONS],
    },
    {
      provide: SessionStateStore,
      useFactory: (options: ResolvedSessionStateOptions) => options.store,
      inject: [SESSION_STATE_OPTIONS],
    },
    ...observabilityProviders,
    SessionStateObserver,
    SessionStateBehaviorResolver,
    SessionStateLifecycle,
    SessionStateAccessor,
    SessionRevoker,
    { provide: APP_INTERCEPTOR, useClass: SessionStateInterceptor },
    SessionStateDeclarations,
    // GraphQL and WebSocket transports: inert (and loading neither package) in an app without them.
    GraphQLSessionFields,
    GraphQLSessionHooks,
    SessionStateApolloPlugin,
    MercuriusSessionHooks,
    WsUpgradeRecorder,
  ],
  exports: [SessionStateStore, SessionStateAccessor, SessionRevoker],
})
export class SessionStateModule extends ConfigurableSessionStateModule {}
