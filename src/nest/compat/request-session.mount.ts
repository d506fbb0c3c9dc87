import { Injectable } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessionStateLifecycle } from '../../core/session-state.lifecycle.js';
import { RequestSessionBinding } from '../../transports/http/compat/request-session.binding.js';
import { requestSessionFacade, type RequestSession } from '../../transports/http/compat/request-session.facade.js';
import { toHttpException } from '../../transports/http/to-http-exception.js';
import { answerException } from './answer-exception.js';

type Next = (error?: unknown) => void;
type SessionCarrier = { session?: RequestSession | null };

/** The few members of a Fastify instance the plugin uses (Fastify stays an optional peer). */
interface FastifyLike {
  decorateRequest(name: string, value: unknown): unknown;
  hasRequestDecorator(name: string): boolean;
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: { raw: ServerResponse; hijack(): unknown }) => Promise<void>): unknown;
}
interface FastifyRequestLike {
  url?: string;
  /** The matched route's options: its `url` is the route as registered, matched as Fastify's routing options say. */
  routeOptions?: { url?: string };
}

/**
 * Gives every request `req.session` (express-session's API on Express, @fastify/session's on
 * Fastify) before the app's middleware runs, for passport, connect-flash and the like. Mounted by
 * `mountSessionState(app)`, which uses `use` (Express) or `fastifyPlugin` (Fastify); an app that
 * does not mount it pays nothing. See docs/PASSPORT.md.
 */
@Injectable()
export class SessionStateMiddleware {
  /** Set by the mount: Nest's own `@Session()` then gets `req.session` (the startup warning says so). */
  mounted = false;
  /**
   * Set by the mount's `path` option: only requests under it get `req.session` (and pay its read);
   * the others pass through untouched, as in an app without the mount.
   */
  path: string | undefined;

  constructor(private readonly lifecycle: SessionStateLifecycle) {}

  /**
   * The Express middleware. With a `path`, the mount registers it with `app.use(path, …)`: Express
   * matches the path as its routing does (case-insensitive unless 'case sensitive routing').
   */
  readonly use = (request: IncomingMessage, response: ServerResponse, next: Next): void => {
    this.load(request, response, (session) => ((request as SessionCarrier).session = session)).then((loaded) => loaded && next(), next);
  };

  /**
   * The Fastify plugin: decorates the request with `session` (so that @fastify/passport's and
   * @fastify/flash's dependency checks pass) and loads it in an `onRequest` hook. Not
   * encapsulated (`skip-override`, what fastify-plugin sets): it serves the whole application.
   */
  readonly fastifyPlugin = Object.assign(
    async (fastify: FastifyLike) => {
      if (!fastify.hasRequestDecorator('session')) fastify.decorateRequest('session', null);
      fastify.addHook('onRequest', async (request, reply) => {
        // The route as Fastify matched it (its caseSensitive, ignoreTrailingSlash… options); the URL when none matched.
        if (!this.serves(request.routeOptions?.url ?? request.url)) return;
        const loaded = await this.load(request, reply, (session) => ((request as SessionCarrier).session = session ?? null));
        // Answered already (503, 409), or the client left while the session was loading: the route must not run.
        if (!loaded) reply.hijack();
      });
    },
    { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'nestjs-session-state' },
  );

  /** Whether a Fastify request for `url` is under the mount's `path` (`/auth` serves `/auth` and `/auth/…`, not `/authors`). */
  private serves(url: string | undefined): boolean {
    if (this.path === undefined) return true;
    const pathname = (url ?? '/').split('?')[0];
    return pathname === this.path || pathname.startsWith(this.path.endsWith('/') ? this.path : `${this.path}/`);
  }

  /**
   * Loads the request's session read-only (no cookie: no store call) and sets `req.session`.
   * Answers false when it answered the request itself (the session could not be loaded: 503, 409).
   */
  private async load(request: object, response: object, setOnRequest: (session: RequestSession | undefined) => void): Promise<boolean> {
    const binding = new RequestSessionBinding(this.lifecycle, request, response);
    try {
      await binding.load();
    } catch (error) {
      answerException(response, toHttpException(error, binding.exchange));
      return false;
    }
    setOnRequest(requestSessionFacade(binding, setOnRequest));
    return true;
  }
}
