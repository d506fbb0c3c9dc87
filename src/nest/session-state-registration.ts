import { Injectable, type OnModuleInit } from '@nestjs/common';
import { MetadataScanner, ModulesContainer } from '@nestjs/core';
import { SessionStateError } from '../errors/session-state.errors.js';
import { SESSION_STATE_OPTIONS } from '../module/session-state.constants.js';
import { interceptorsOf } from './session-interceptor.binding.js';
import { SessionStateInterceptor } from './session-state.interceptor.js';

type NestModule = ModulesContainer extends Map<string, infer M> ? M : never;

const ONCE =
  'Register it once: SessionStateModule.forRoot(...) in the root module (isGlobal: true, the default, serves every module), ' +
  'or, with isGlobal: false, in one module of yours that imports SessionStateModule.forRoot(...) and exports SessionStateModule, ' +
  'imported by every module whose handlers use the session (docs/USAGE.md).';

/**
 * Refuses, at startup, what would split or lose the application's sessions silently:
 * - the module registered more than once (`forRoot()` in two feature modules, or in the root module
 *   and again in a feature module): each registration is a module of its own, with its own store
 *   and lifecycle, so a session made under one is an unknown id to the other, under one cookie;
 * - a handler that uses the session in a module that cannot reach it (`isGlobal: false`, not
 *   imported there): it would answer 500 to every request.
 * Reads the application's own modules only (ModulesContainer is per application): two applications
 * of one process, each with its registration, are fine.
 */
@Injectable()
export class SessionStateRegistration implements OnModuleInit {
  constructor(
    private readonly modules: ModulesContainer,
    private readonly scanner: MetadataScanner,
  ) {}

  onModuleInit(): void {
    const modules = [...this.modules.values()];
    const registrations = modules.filter((module) => module.providers.has(SESSION_STATE_OPTIONS));
    if (registrations.length > 1) {
      throw new SessionStateError(
        `SessionStateModule is registered ${registrations.length} times in this application: each registration has its own ` +
          'store and lifecycle, so a session made under one is unknown to the other. ' +
          ONCE,
      );
    }
    const unreachable = modules.flatMap((module) => this.handlersWithoutSession(module));
    if (unreachable.length > 0) {
      throw new SessionStateError(
        `${unreachable.join(', ')} use${unreachable.length === 1 ? 's' : ''} the session, but SessionStateModule is not reachable ` +
          'from the module declaring it (isGlobal: false, and not imported there): every request to it would fail. ' +
          ONCE,
      );
    }
  }

  /** The handlers bound to a session interceptor that Nest made in `module` without the session. */
  private handlersWithoutSession(module: NestModule): string[] {
    const interceptor = module.injectables.get(SessionStateInterceptor)?.instance;
    if (!(interceptor instanceof SessionStateInterceptor) || interceptor.hasSession) return [];
    const handlers: string[] = [];
    for (const wrapper of [...module.controllers.values(), ...module.providers.values()]) {
      const type = wrapper.metatype;
      if (typeof type !== 'function' || wrapper.inject || !type.prototype) continue;
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler === 'function' && interceptorsOf(handler).includes(SessionStateInterceptor))
          handlers.push(`${type.name}.${name}() (in ${module.name})`);
      }
    }
    return handlers;
  }
}
