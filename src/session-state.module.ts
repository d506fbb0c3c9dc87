import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { observabilityProviders } from './observability/observed-store.provider.js';
import { SessionStateObserver } from './observability/session-state-observer.js';
import { SessionRevoker } from './session-revoker.js';
import { SessionStateAccessor } from './session-state.accessor.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SESSION_STATE_OPTIONS } from './session-state.constants.js';
import { SessionStateInterceptor } from './session-state.interceptor.js';
import { SessionStateLifecycle } from './session-state.lifecycle.js';
import { ConfigurableSessionStateModule, SESSION_STATE_MODULE_OPTIONS } from './session-state.module-definition.js';
import { resolveSessionStateOptions, type ResolvedSessionStateOptions, type SessionStateModuleOptions } from './session-state.options.js';
import { SessionStateStore } from './store/session-state-store.js';

/**
 * `SessionStateModule.forRoot({ store, timeout, ... })` or `.forRootAsync({ imports, inject, useFactory })`.
 * Provides the store (token: `SessionStateStore`), `SessionStateAccessor`, `SessionRevoker`, and the global
 * interceptor that runs the session lifecycle.
 */
@Module({
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
  ],
  exports: [SessionStateStore, SessionStateAccessor, SessionRevoker],
})
export class SessionStateModule extends ConfigurableSessionStateModule {}
