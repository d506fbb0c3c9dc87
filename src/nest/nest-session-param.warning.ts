import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { SessionStateMiddleware } from './compat/request-session.mount.js';

// Where Nest keeps a handler's parameter decorators, and the type of its own `@Session()` (not in
// @nestjs/common's index, hence the deep imports; a test with the real decorator pins them).
const NEST_SESSION_PARAMTYPE = RouteParamtypes.SESSION;

/**
 * `import { Session } from '@nestjs/common'` (an IDE auto-import) injects express-session's
 * `req.session`: `undefined` here, silently, unless the app mounts `req.session`
 * (`mountSessionState(app)`, before `app.init()`), when it is this module's session, as passport
 * sees it. Warns once at startup when not mounted, naming the handlers.
 */
@Injectable()
export class NestSessionParamWarning implements OnModuleInit {
  private readonly logger = new Logger('SessionState');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly mount: SessionStateMiddleware,
  ) {}

  onModuleInit(): void {
    // Mounted: req.session is this module's session (read-only unless the route declares Required).
    if (this.mount.mounted) return;
    const handlers = this.handlersUsingNestSession();
    if (handlers.length === 0) return;
    this.logger.warn(
      `${handlers.join(', ')} ${handlers.length === 1 ? 'uses' : 'use'} @Session() from @nestjs/common, which is ` +
        "express-session's req.session (undefined with this module): import { Session } from 'nestjs-session-state' instead " +
        '(or, for passport and other express-session code, mount req.session: await mountSessionState(app), see docs/PASSPORT.md).',
    );
  }

  /** `Controller.method` of every handler with a parameter decorated by Nest's own `@Session()`. */
  handlersUsingNestSession(): string[] {
    const found: string[] = [];
    for (const wrapper of this.discovery.getControllers()) {
      const type = wrapper.metatype as (abstract new (...args: never[]) => unknown) | null;
      if (!type || typeof type !== 'function') continue;
      for (const method of this.scanner.getAllMethodNames(type.prototype as object)) {
        const params = (Reflect.getMetadata(ROUTE_ARGS_METADATA, type, method) ?? {}) as Record<string, unknown>;
        if (Object.keys(params).some((key) => key.split(':')[0] === String(NEST_SESSION_PARAMTYPE))) {
          found.push(`${type.name}.${method}`);
        }
      }
    }
    return found;
  }
}
