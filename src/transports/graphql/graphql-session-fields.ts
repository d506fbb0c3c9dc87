import { Injectable, Logger } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModuleRef, Reflector } from '@nestjs/core';
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
  /** A field resolver (`@ResolveField`), not a root field. */
  isProperty: boolean;
}

/** The GraphQL module's options this module reads (`GRAPHQL_MODULE_OPTIONS`, a public token). */
interface GraphQLOptions {
  fieldResolverEnhancers?: string[];
}

/**
 * The resolvers of the application that use the session, by `TypeName.fieldName`, so that a
 * request's behavior is known from its parsed operation before any resolver runs. Built on the first
 * GraphQL request (the schema exists then, and with it the names of code-first object types).
 */
@Injectable()
export class GraphQLSessionFields {
  private fields: Promise<Map<string, FieldSession>> | undefined;
  private readonly logger = new Logger('SessionState');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
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
          isProperty,
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
    // Loaded only here, on the first GraphQL request: an app without GraphQL never loads it.
    const graphql = methods.length > 0 ? await import('@nestjs/graphql') : undefined;
    // Code-first field resolvers name their parent by class (`@Resolver(() => Author)`): its GraphQL name
    // is the object type's (`@ObjectType('Writer')`), which only @nestjs/graphql knows.
    const storage = graphql?.TypeMetadataStorage as unknown as
      | {
          getObjectTypeMetadataByTarget?(target: Function): { name: string } | undefined;
          getInterfaceMetadataByTarget?(target: Function): { name: string } | undefined;
        }
      | undefined;
    const unchained: string[] = [];
    for (const { type, field, session, isProperty } of methods) {
      const typeName = typeof type === 'string' ? type : typeNameOf(type, storage);
      if (typeName) fields.set(`${typeName}.${field}`, session);
      if (isProperty && session.usesSession && session.declared !== SessionStateBehavior.ReadOnly) unchained.push(`${typeName ?? '?'}.${field}`);
    }
    if (graphql && unchained.length > 0) this.warnIfUnchained(unchained, graphql.GRAPHQL_MODULE_OPTIONS);
    return fields;
  }

  /**
   * Field resolvers run one at a time in a read-write request only when the GraphQL module runs
   * interceptors on them (not Nest's default): say so once, naming them, rather than let a write of
   * theirs overwrite a sibling's (review R20; docs/TRANSPORTS.md).
   */
  private warnIfUnchained(fields: string[], token: string): void {
    let options: GraphQLOptions | undefined;
    try {
      options = this.moduleRef.get<string, GraphQLOptions>(token, { strict: false });
    } catch {
      return; // no GraphQLModule options to read (a custom setup): nothing to judge
    }
    if (options?.fieldResolverEnhancers?.includes('interceptors')) return;
    this.logger.warn(
      `The field resolvers ${fields.join(', ')} take @Session(), and the GraphQL module runs no interceptors on field resolvers ` +
        `(fieldResolverEnhancers): in a read-write request they run beside its other resolvers, and a write of theirs may ` +
        `overwrite another's. Add 'interceptors' to GraphQLModule's fieldResolverEnhancers, or declare ` +
        `@SessionState(SessionStateBehavior.ReadOnly) on those that only read.`,
    );
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
