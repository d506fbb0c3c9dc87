import { Injectable } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { SESSION_PARAM_METADATA, SESSION_STATE_BEHAVIOR_METADATA } from '../../module/session-state.constants.js';
import { SessionStateBehavior } from '../../core/session-state-behavior.enum.js';
import type { ResolvedBehavior } from '../../core/session-state-behavior.enum.js';

/** The metadata keys of @nestjs/graphql's resolver decorators (read here without loading the package). */
export const RESOLVER_TYPE_METADATA = 'graphql:resolver_type';
export const RESOLVER_NAME_METADATA = 'graphql:resolver_name';
export const RESOLVER_PROPERTY_METADATA = 'graphql:resolve_property';
export const ROOT_TYPES = new Set(['Query', 'Mutation', 'Subscription']);

/** How one resolver (`Type.field`) uses the session. */
export interface FieldSession {
  /** Its `@SessionState()` (method, else class), if any other than Default. */
  declared?: ResolvedBehavior;
  /** It takes `@Session()`. */
  usesSession: boolean;
}

interface ResolverMethod {
  type: unknown;
  field: string;
  session: FieldSession;
}

/**
 * The resolvers of the application that use the session, by `TypeName.fieldName`, so that a
 * request's behavior is known from its parsed operation before any resolver runs. Built on the first
 * GraphQL request (the schema exists then, and with it the names of code-first object types).
 */
@Injectable()
export class GraphQLSessionFields {
  private fields: Promise<Map<string, FieldSession>> | undefined;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  get(): Promise<Map<string, FieldSession>> {
    return (this.fields ??= this.build());
  }

  /** Every resolver method of the application (root fields and field resolvers), with its session use. */
  resolverMethods(): ResolverMethod[] {
    const methods: ResolverMethod[] = [];
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as object | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.metatype) continue;
      const classType = Reflect.getMetadata(RESOLVER_TYPE_METADATA, instance.constructor) as unknown;
      const prototype = Object.getPrototypeOf(instance) as Record<string, Function>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const method = prototype[name];
        const isProperty = Reflect.getMetadata(RESOLVER_PROPERTY_METADATA, method) === true;
        const type = (Reflect.getMetadata(RESOLVER_TYPE_METADATA, method) as unknown) ?? classType;
        if (type === undefined || (!isProperty && !(typeof type === 'string' && ROOT_TYPES.has(type)))) continue;
        const field = (Reflect.getMetadata(RESOLVER_NAME_METADATA, method) as string | undefined) ?? name;
        const declared = this.reflector.getAllAndOverride<SessionStateBehavior | undefined>(SESSION_STATE_BEHAVIOR_METADATA, [
          method,
          instance.constructor,
        ]);
        methods.push({
          type,
          field,
          session: {
            declared: declared && declared !== SessionStateBehavior.Default ? (declared as ResolvedBehavior) : undefined,
            // On the method, or (a method decorator replaced it without copying metadata) where
            // `@Session()` also records itself: on the class, by method name.
            usesSession:
              Reflect.getMetadata(SESSION_PARAM_METADATA, method) !== undefined ||
              Reflect.getMetadata(SESSION_PARAM_METADATA, instance.constructor, name) !== undefined,
          },
        });
      }
    }
    return methods;
  }

  private async build(): Promise<Map<string, FieldSession>> {
    const fields = new Map<string, FieldSession>();
    const methods = this.resolverMethods().filter((m) => m.session.usesSession || m.session.declared);
    // Code-first field resolvers name their parent by class (`@Resolver(() => Author)`): its GraphQL name
    // is the object type's (`@ObjectType('Writer')`), which only @nestjs/graphql knows. Loaded only here.
    const storage = methods.some((m) => typeof m.type === 'function')
      ? ((await import('@nestjs/graphql')).TypeMetadataStorage as unknown as {
          getObjectTypeMetadataByTarget?(target: Function): { name: string } | undefined;
          getInterfaceMetadataByTarget?(target: Function): { name: string } | undefined;
        })
      : undefined;
    for (const { type, field, session } of methods) {
      const typeName = typeof type === 'string' ? type : typeNameOf(type, storage);
      if (typeName) fields.set(`${typeName}.${field}`, session);
    }
    return fields;
  }
}

function typeNameOf(
  type: unknown,
  storage?: {
    getObjectTypeMetadataByTarget?(target: Function): { name: string } | undefined;
    getInterfaceMetadataByTarget?(target: Function): { name: string } | undefined;
  },
): string | undefined {
  if (typeof type !== 'function') return undefined;
  // `@Resolver(Author)` or `@Resolver(() => Author)`.
  const target = (type.prototype?.constructor?.name ? type : (type as () => unknown)()) as Function | undefined;
  if (typeof target !== 'function') return undefined;
  return storage?.getObjectTypeMetadataByTarget?.(target)?.name ?? storage?.getInterfaceMetadataByTarget?.(target)?.name ?? target.name;
}
