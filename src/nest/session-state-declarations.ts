import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { SessionStateError } from '../errors/session-state.errors.js';
import { SESSION_STATE_BEHAVIOR_METADATA } from '../module/session-state.constants.js';
import { SessionStateBehavior } from '../core/session-state-behavior.enum.js';
import { streamDecoratorOf } from '../transports/session-transports.js';
import { SessionStateBehaviorResolver, takesSession } from './session-state-behavior.resolver.js';

/**
 * Refuses, at startup, declarations that cannot be honoured: `Required` on an `@Sse()` handler or
 * a GraphQL `@Subscription()` resolver. Both stream for as long as the client stays; a lock held
 * that long would block every write of the user, and the changes could never be saved before an
 * answer that is the stream itself. They read a snapshot instead. And `@Session()` on a handler
 * declared `Disabled` (on itself or its class): it never has a session, so every call would fail.
 */
@Injectable()
export class SessionStateDeclarations implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly behaviors: SessionStateBehaviorResolver,
  ) {}

  onModuleInit(): void {
    const refused: string[] = [];
    const sessionless: string[] = [];
    for (const wrapper of [...this.discovery.getControllers(), ...this.discovery.getProviders()]) {
      const instance = wrapper.instance as object | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.metatype) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, Function>;
      const type = instance.constructor;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const method = prototype[name];
        if (typeof method !== 'function') continue;
        // Resolved Disabled although it takes @Session(): only a declaration (the handler's or its class's) does that.
        if (takesSession(method, type) && this.behaviors.resolveHandler(method, type) === SessionStateBehavior.Disabled) {
          sessionless.push(`${type.name}.${name}`);
        }
        if (Reflect.getMetadata(SESSION_STATE_BEHAVIOR_METADATA, method) !== SessionStateBehavior.Required) continue;
        const stream = streamDecoratorOf(method);
        if (stream) refused.push(`${instance.constructor.name}.${name} (${stream})`);
      }
    }
    if (refused.length > 0) {
      throw new SessionStateError(
        `@SessionState(SessionStateBehavior.Required) cannot be honoured on a stream: ${refused.join(', ')}. ` +
          'A stream reads a read-only snapshot of the session taken when it starts, and holds no lock while it streams ' +
          '(a lock held for its length would block every write of the user). Remove the declaration (or declare ReadOnly), ' +
          'and write to the session in an ordinary request or mutation.',
      );
    }
    if (sessionless.length > 0) {
      throw new SessionStateError(
        `@Session() on a handler declared @SessionState(SessionStateBehavior.Disabled) (on the handler or its class): ${sessionless.join(', ')}. ` +
          'A Disabled handler has no session, so every call would fail. Declare the handler ReadOnly or Required ' +
          "(@SessionState() on the method overrides its class's), or remove its @Session() parameter.",
      );
    }
  }
}
