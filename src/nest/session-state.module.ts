import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { RequestSessionGuard } from './compat/request-session.guard.js';
import { SessionStateMiddleware } from './compat/request-session.mount.js';
import { SessionStateApolloPlugin } from '../transports/graphql/apollo-session.plugin.js';
import { GraphQLSessionFields } from '../transports/graphql/graphql-session-fields.js';
import { GraphQLSessionHooks } from '../transports/graphql/graphql-session-hooks.js';
import { MercuriusSessionHooks } from '../transports/graphql/mercurius-session.hooks.js';
import { NestSessionParamWarning } from './nest-session-param.warning.js';
import { observabilityProviders } from './observed-store.provider.js';
import { SessionStateObserver } from '../observability/session-state-observer.js';
import { SessionRevoker } from './session-revoker.js';
import { SessionManager } from './session-manager.js';
import { SessionStateBehaviorResolver } from './session-state-behavior.resolver.js';
import { SessionStateDeclarations } from './session-state-declarations.js';
import { SessionStateRegistration } from './session-state-registration.js';
import { SessionStateAccessor } from './session-state.accessor.js';
import { SESSION_STATE_OPTIONS } from '../module/session-state.constants.js';
import { SessionStateInterceptor } from './session-state.interceptor.js';
import { sessionInterceptorInnermost } from './session-interceptor.binding.js';
import { SessionStateLifecycle } from '../core/session-state.lifecycle.js';
import {
  ASYNC_OPTIONS_TYPE,
  ConfigurableSessionStateModule,
  OPTIONS_TYPE,
  SESSION_STATE_MODULE_OPTIONS,
  SESSION_STATE_OPTIONS_FACTORY_METHOD,
} from '../module/session-state.module-definition.js';
import {
  assertOptionsObject,
  resolveSessionStateOptions,
  type ResolvedSessionStateOptions,
  type SessionStateModuleOptions,
} from '../module/session-state.options.js';
import { SessionStateStore } from '../store/session-state-store.js';
import { WsUpgradeRecorder } from '../transports/ws/ws-upgrade-recorder.js';

/**
 * `SessionStateModule.forRoot({ store, timeout, ... })` or `.forRootAsync({ imports, inject, useFactory })`
 * (or `useClass`/`useExisting` with a `createSessionStateOptions()` method).
 * Provides the store (token: `SessionStateStore`), `SessionStateAccessor`, `SessionRevoker`, `SessionManager`, the
 * interceptor that runs the session lifecycle of HTTP requests and WebSocket messages (bound by
 * the decorators to every handler that uses the session), and
 * the request hooks of GraphQL servers (Apollo, Mercurius).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: SESSION_STATE_OPTIONS,
      useFactory: (options: SessionStateModuleOptions | undefined) => resolveSessionStateOptions(options ?? importedBare()),
      // Optional: a bare `imports: [SessionStateModule]` is told how to import it, not Nest's DI error.
      inject: [{ token: SESSION_STATE_MODULE_OPTIONS, optional: true }],
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
    SessionManager,
    NestSessionParamWarning,
    // Bound by the decorators (`@Session()`, `@SessionState()`) to the handlers that use the session
    // (a handler that does not gets no interceptor at all), and made their innermost at startup
    // (see session-interceptor.binding.ts).
    SessionStateInterceptor,
    sessionInterceptorInnermost,
    SessionStateDeclarations,
    // Refuses at startup a second registration of the module, and a handler that cannot reach it.
    SessionStateRegistration,
    // `req.session` for passport and the middleware ecosystem: inert until `mountSessionState(app)`
    // mounts the middleware and makes the guard global (an app without it runs no extra guard).
    SessionStateMiddleware,
    RequestSessionGuard,
    // GraphQL and WebSocket transports: inert (and loading neither package) in an app without them.
    GraphQLSessionFields,
    GraphQLSessionHooks,
    SessionStateApolloPlugin,
    MercuriusSessionHooks,
    WsUpgradeRecorder,
  ],
  // The lifecycle and the resolver too: Nest makes the interceptor in the module of each handler it is bound to.
  exports: [SessionStateStore, SessionStateAccessor, SessionRevoker, SessionManager, SessionStateLifecycle, SessionStateBehaviorResolver],
})
export class SessionStateModule extends ConfigurableSessionStateModule {
  /** `forRoot()` with no argument: every default (Nest's generated method needs an object). */
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }

  /**
   * As Nest generates it, except that an options class (`useClass`/`useExisting`) without
   * `createSessionStateOptions()` is refused with a message saying so (rather than
   * "optionsFactory[...] is not a function"), `create()` of earlier versions included, and that an
   * answer that is not an options object (null, nothing: a forgotten `return`) is refused naming
   * the factory that gave it.
   */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    const factoryClass = options.useClass ?? options.useExisting;
    const { useFactory } = options;
    if (useFactory) {
      return super.forRootAsync({
        ...options,
        useFactory: async (...args: unknown[]) => {
          const answer: unknown = await useFactory(...args);
          assertOptionsObject(answer, 'forRootAsync: what useFactory answers');
          return answer;
        },
      });
    }
    if (!factoryClass) return super.forRootAsync(options);
    const module = super.forRootAsync({
      ...options,
      useClass: undefined,
      useExisting: undefined,
      inject: [factoryClass],
      useFactory: async (factory: Record<string, unknown>) => {
        const create = factory[SESSION_STATE_OPTIONS_FACTORY_METHOD];
        const name = (factoryClass as Type).name || 'the options class';
        if (typeof create !== 'function') {
          const legacy =
            typeof factory.create === 'function'
              ? ` (it has create(): rename it ${SESSION_STATE_OPTIONS_FACTORY_METHOD}(), the Nest convention)`
              : '';
          throw new TypeError(`SessionStateModule.forRootAsync: ${name} has no ${SESSION_STATE_OPTIONS_FACTORY_METHOD}() method${legacy}.`);
        }
        const answer: unknown = await (create as () => unknown).call(factory);
        assertOptionsObject(answer, `forRootAsync: what ${name}.${SESSION_STATE_OPTIONS_FACTORY_METHOD}() answers`);
        return answer;
      },
    });
    if (options.useClass) module.providers = [...(module.providers ?? []), { provide: options.useClass, useClass: options.useClass }];
    return module;
  }
}

/** `imports: [SessionStateModule]` without `forRoot()`: a second, unconfigured copy of the module. */
function importedBare(): never {
  throw new TypeError(
    'SessionStateModule is imported without options: import SessionStateModule.forRoot() (or forRootAsync()) once, in the ' +
      'root module. It is global (unless isGlobal: false): the other modules inject its providers without importing it.',
  );
}
