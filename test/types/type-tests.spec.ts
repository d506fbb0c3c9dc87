import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The type tests (`fixtures/*.types.ts`: `expectTypeOf` and `@ts-expect-error`) are compiled here,
 * as part of `npm test`: a type error, or an `@ts-expect-error` that is no longer needed, fails.
 * (Sessions typed app-wide by augmenting `SessionStateData` are type-tested by
 * `package-exports.spec.ts`, against the packed declarations: the augmentation is global to its
 * program, so it needs a program of its own, and that one is the real thing.)
 */
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** A misuse compiled along with the fixtures: proves that this harness reports errors at all. */
const CANARY = fixtures + 'canary.types.ts';
const CANARY_SOURCE =
  "import type { HttpSessionState } from 'nestjs-session-state';\n" +
  "declare const s: HttpSessionState<{ a: number }>;\ns.set('a', 'not a number');\n";

function diagnosticsOf(tsconfig: string): { file: string; message: string }[] {
  const path = fixtures + tsconfig;
  const config = ts.getParsedCommandLineOfConfigFile(path, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (!config) throw new Error(`cannot read ${path}`);
  if (config.errors.length > 0 || config.fileNames.length === 0) {
    throw new Error(`${path}: no type-test files (${config.errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, ' ')).join('; ')})`);
  }
  const host = ts.createCompilerHost(config.options);
  const { readFile, fileExists } = host;
  host.readFile = (name) => (name === CANARY ? CANARY_SOURCE : readFile.call(host, name));
  host.fileExists = (name) => name === CANARY || fileExists.call(host, name);
  const program = ts.createProgram({ rootNames: [...config.fileNames, CANARY], options: config.options, host });
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    file: d.file?.fileName ?? '',
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

describe('type tests', () => {
  it('untyped and typed sessions: no error and no unused @ts-expect-error (and the canary misuse is reported)', () => {
    const diagnostics = diagnosticsOf('tsconfig.json');
    expect(diagnostics.filter((d) => d.file !== CANARY)).toEqual([]);
    expect(diagnostics.filter((d) => d.file === CANARY).map((d) => d.message)).toEqual([
      expect.stringMatching(/not assignable to parameter of type/),
    ]);
  });
});
