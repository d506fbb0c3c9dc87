/**
 * Every TypeScript sample of README.md and docs/ compiles against the built package (`dist/`, reached
 * as `nestjs-session-state` through package.json's `exports`, as an application reaches it). Found by
 * review R11: three samples did not compile.
 *
 * Samples are read from the pages at run time (the n-th ```ts block of a page). Most are fragments:
 * each gets only what the page leaves to the reader (the imports, a declared `app`, `store` or DTO, a
 * class around a method), never a change to the sample's own text. The typed-session samples of
 * USAGE.md compile in a program of their own, with the page's `SessionStateData` augmentation. A block
 * added to a page must be listed (SAMPLES or SKIPPED), or the first test fails. Needs `npm run build`
 * first (npm test builds before vitest).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../', import.meta.url));
/** Where the samples' files seem to be (they live in memory only). */
const virtualDir = `${root}test/__samples__/`;

const NEST = `import { Module, Controller, Get, Post, Delete, Body, Param, HttpCode, Injectable, Inject, Req, UseGuards, UnauthorizedException, NotFoundException, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import {
  SessionStateModule, Session, SessionState, SessionStateBehavior, HttpSessionState, SessionStateAccessor, SessionStateGuard,
  SessionRevoker, SessionManager, mountSessionState, type SessionStateModuleOptions, type SessionStateStore,
} from 'nestjs-session-state';
`;

interface Sample {
  page: string;
  /** 1-based: the n-th ```ts block of the page. */
  block: number;
  /** Turns the block into a module (what the page leaves to the reader). Default: the Nest imports before it. */
  wrap?: (code: string) => string;
  /** Compiled with USAGE.md's `SessionStateData` augmentation. */
  typed?: boolean;
}

const withNest = (extra: string) => (code: string) => `${NEST}${extra}\n${code}`;
/** `SessionStateModule.forRoot(...)` / `forRootAsync(...)` as an expression statement ending in `,` or `;`. */
const asExport = (extra: string) => (code: string) => `${NEST}${extra}\nexport const sample = ${code.trim().replace(/[,;]$/, '')};`;
const inClass = (extra: string) => (code: string) => `${NEST}${extra}\nexport class Sample {\n${code}\n}`;

const SAMPLES: Sample[] = [
  { page: 'README.md', block: 1, wrap: (code) => code },
  { page: 'README.md', block: 2, wrap: withNest("import passport from 'passport';\ndeclare const app: INestApplication;") },
  {
    page: 'docs/USAGE.md',
    block: 1,
    wrap: (code) => {
      const [importLine, ...rest] = code.split('\n');
      return asExport(importLine!)(rest.join('\n'));
    },
  },
  {
    page: 'docs/USAGE.md',
    block: 2,
    wrap: (code) => withNest('')(code.replace(/^SessionStateModule\.forRootAsync/m, 'export const sample = SessionStateModule.forRootAsync')),
  },
  { page: 'docs/USAGE.md', block: 3, wrap: withNest('class CartController {}\nclass CheckoutController {}') },
  { page: 'docs/USAGE.md', block: 4, wrap: (code) => `export interface CartItem { sku: string; qty: number }\n${code}`, typed: true },
  { page: 'docs/USAGE.md', block: 5 },
  { page: 'docs/USAGE.md', block: 6, wrap: (code) => withNest('class Item { sku!: string }')(code.replace('{ ... }', '{ return item; }')) },
  { page: 'docs/USAGE.md', block: 7, wrap: inClass('class LoginDto { user!: string; rememberMe?: boolean }'), typed: true },
  {
    page: 'docs/USAGE.md',
    block: 8,
    wrap: (code) => {
      const [forRoot, , ...method] = code.split('\n');
      return inClass(`class LoginDto { user!: string }\nexport const options = ${forRoot};\n`)(
        `constructor(private readonly users: { check(body: LoginDto): boolean }) {}\n${method.join('\n')}`,
      );
    },
    typed: true,
  },
  { page: 'docs/USAGE.md', block: 9, wrap: withNest('class LoginDto { userId!: string }') },
  { page: 'docs/USAGE.md', block: 10, wrap: asExport('declare const store: SessionStateStore;') },
  {
    page: 'docs/PASSPORT.md',
    block: 1,
    wrap: (code) =>
      `import { Module } from '@nestjs/common';\nimport { NestFactory } from '@nestjs/core';\nimport passport from 'passport';\nimport flash from 'connect-flash';\n@Module({}) class AppModule {}\n${code}`,
  },
  {
    page: 'docs/PASSPORT.md',
    block: 2,
    wrap: withNest(
      "import { AuthGuard } from '@nestjs/passport';\nimport type { Request } from 'express';\nclass AuthenticatedGuard implements CanActivate { canActivate() { return true; } }",
    ),
  },
  {
    page: 'docs/PASSPORT.md',
    block: 3,
    wrap: withNest(
      "import fastifyPassport from '@fastify/passport';\nimport { Strategy as LocalStrategy, type VerifyFunction } from 'passport-local';\n" +
        "import type { NestFastifyApplication } from '@nestjs/platform-fastify';\ndeclare const app: NestFastifyApplication;\n" +
        'declare const verify: VerifyFunction;\ndeclare function findUser(id: string): Promise<{ id: string }>;',
    ),
  },
  {
    page: 'docs/PASSPORT.md',
    block: 4,
    wrap: withNest(
      "import fastifyPassport from '@fastify/passport';\ntype Authenticator = InstanceType<typeof fastifyPassport.Authenticator>;\n" +
        "import type { FastifyRequest, FastifyReply } from 'fastify';\nconst FASTIFY_PASSPORT = 'FASTIFY_PASSPORT';",
    ),
  },
  {
    page: 'docs/PASSPORT.md',
    block: 5,
    wrap: withNest(
      "import { AuthGuard } from '@nestjs/passport';\nimport { Args, Context, GqlExecutionContext, Mutation, ObjectType, Resolver } from '@nestjs/graphql';\n" +
        "import type { Request } from 'express';\n@ObjectType() class User {}",
    ),
  },
  { page: 'docs/REDIS.md', block: 1, wrap: (code) => code },
  {
    page: 'docs/REDIS.md',
    block: 2,
    wrap: asExport(
      "import { RedisSessionStateStore } from 'nestjs-session-state/redis';\nimport type { RedisClientType } from 'redis';\nconst REDIS_CLIENT = 'REDIS_CLIENT';\n@Module({}) class RedisModule {}",
    ),
  },
  { page: 'docs/REDIS.md', block: 3, wrap: (code) => code },
  { page: 'docs/REDIS.md', block: 4, wrap: (code) => `import { RedisSessionStateStore } from 'nestjs-session-state/redis';\n${code}` },
  { page: 'docs/REDIS.md', block: 5, wrap: (code) => `import { RedisSessionStateStore, fromIoredis } from 'nestjs-session-state/redis';\n${code}` },
  { page: 'docs/SESSIONS-PER-USER.md', block: 1 },
  { page: 'docs/TRANSPORTS.md', block: 1, wrap: withNest("import { Resolver, Query, Mutation, Int } from '@nestjs/graphql';") },
  { page: 'docs/TRANSPORTS.md', block: 2, wrap: withNest("import { WebSocketGateway, SubscribeMessage } from '@nestjs/websockets';") },
  { page: 'docs/ID-HEADER.md', block: 1, wrap: asExport('declare const store: SessionStateStore;') },
  { page: 'docs/ID-HEADER.md', block: 2, wrap: withNest('declare const app: INestApplication;') },
  {
    page: 'docs/MIGRATING.md',
    block: 2,
    wrap: (code) =>
      "import passport from 'passport';\nimport type { RedisClientType } from 'redis';\nimport type { NestExpressApplication } from '@nestjs/platform-express';\n" +
      'declare const app: NestExpressApplication;\ndeclare const redisClient: RedisClientType;\n' +
      code
        .replace(
          /^import \{ SessionStateModule \} from 'nestjs-session-state';$/m,
          "import { SessionStateModule, mountSessionState } from 'nestjs-session-state';",
        )
        .replace(/^SessionStateModule\.forRoot\(/m, 'export const sample = SessionStateModule.forRoot(')
        .replace(/^\}\),$/m, '});'),
  },
  { page: 'docs/OPERATIONS.md', block: 1 },
  { page: 'docs/DYNAMODB.md', block: 1, wrap: (code) => code },
  {
    page: 'docs/TESTING.md',
    block: 1,
    wrap: withNest(
      "import { it, expect } from 'vitest';\n" +
        "class CartController { add(session: HttpSessionState, item: { sku: string; qty: number }) { session.set('cart', [...((session.get('cart') as { sku: string; qty: number }[] | undefined) ?? []), item]); } }",
    ),
  },
  {
    page: 'docs/TESTING.md',
    block: 2,
    wrap: withNest("import { it, expect } from 'vitest';\nimport request from 'supertest';\ndeclare const app: INestApplication;\nconst wrong = {};"),
  },
];

/** Blocks that are not samples of this package's API, and why (`page#block`). */
const SKIPPED: Record<string, string> = {
  'docs/MIGRATING.md#1': "the express-session setup a migration starts from (express-session's API, not ours)",
  'docs/STORES.md#1': "the contract's answers as a union sketch, not code",
  'docs/TESTING.md#3': "a custom store's conformance file: it imports the reader's own store (./my-store.js)",
};

function tsBlocks(page: string): string[] {
  const text = readFileSync(`${root}${page}`, 'utf8');
  return [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

function compile(samples: Sample[], extra: Record<string, string> = {}): Map<string, string[]> {
  const parsed = ts.getParsedCommandLineOfConfigFile(`${root}tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const options: ts.CompilerOptions = { ...parsed.options, noEmit: true, incremental: false, types: ['node'], declaration: false };
  const files = new Map<string, string>(Object.entries(extra).map(([name, text]) => [virtualDir + name, text]));
  const names = new Map<string, string>();
  for (const sample of samples) {
    const code = tsBlocks(sample.page)[sample.block - 1];
    if (code === undefined) throw new Error(`${sample.page} has no ts block #${sample.block}`);
    const key = `${sample.page}#${sample.block}`;
    const file = `${virtualDir}${key.replace(/[/#.]/g, '_')}.ts`;
    files.set(file, (sample.wrap ?? withNest(''))(code));
    names.set(file, key);
  }
  const host = ts.createCompilerHost(options);
  const { readFile, fileExists } = host;
  host.readFile = (name) => files.get(name) ?? readFile.call(host, name);
  host.fileExists = (name) => files.has(name) || fileExists.call(host, name);
  const program = ts.createProgram({ rootNames: [...files.keys()], options, host });
  const found = new Map<string, string[]>();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const key = names.get(d.file?.fileName ?? '') ?? d.file?.fileName ?? 'program';
    found.set(key, [...(found.get(key) ?? []), ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]!]);
  }
  return found;
}

describe('the docs’ TypeScript samples compile against the built package', () => {
  beforeAll(() => {
    if (!existsSync(`${root}dist/index.d.ts`)) throw new Error('dist/ is missing: run npm run build first');
  });

  it('every ```ts block of README.md and docs/ is a sample below or skipped for a reason', () => {
    const pages = [
      'README.md',
      ...readdirSync(`${root}docs`)
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const listed = new Set([...SAMPLES.map((s) => `${s.page}#${s.block}`), ...Object.keys(SKIPPED)]);
    const blocks = pages.flatMap((page) => tsBlocks(page).map((_, i) => `${page}#${i + 1}`));
    expect(blocks.filter((key) => !listed.has(key))).toEqual([]);
    expect([...listed].filter((key) => !blocks.includes(key))).toEqual([]);
  });

  it('README.md and every docs/ page (untyped sessions)', () => {
    expect([...compile(SAMPLES.filter((s) => !s.typed))]).toEqual([]);
  }, 60_000);

  it("USAGE.md's typed-session samples, with the page's SessionStateData augmentation", () => {
    expect([...compile(SAMPLES.filter((s) => s.typed))]).toEqual([]);
  }, 60_000);
});
