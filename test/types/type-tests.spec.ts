import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The type tests (`fixtures/*.types.ts`: `expectTypeOf` and `@ts-expect-error`) are compiled here,
 * as part of `npm test`: a type error, or an `@ts-expect-error` that is no longer needed, fails.
 */
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** A misuse compiled along with the fixtures: proves that this harness reports errors at all. */
const CANARY = fixtures + 'canary.types.ts';
const CANARY_SOURCE =
  "import type { HttpSessionState } from 'nestjs-session-state';\n" +
  "declare const s: HttpSessionState<{ a: number }>;\ns.set('a', 'not a number');\n";

/** Parsed files shared by the two programs (the libraries' declarations are most of the work). */
const parsed = new Map<string, ts.SourceFile | undefined>();

function diagnosticsOf(tsconfig: string, withCanary = false): { file: string; message: string }[] {
  const path = fixtures + tsconfig;
  const config = ts.getParsedCommandLineOfConfigFile(path, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (!config) throw new Error(`cannot read ${path}`);
  if (config.errors.length > 0 || config.fileNames.length === 0) {
    throw new Error(`${path}: no type-test files (${config.errors.map((e) => e.messageText).join('; ')})`);
  }
  const host = ts.createCompilerHost(config.options);
  const { getSourceFile } = host;
  host.getSourceFile = (name, languageVersion, ...rest) => {
    if (!name.includes('/node_modules/')) return getSourceFile.call(host, name, languageVersion, ...rest);
    if (!parsed.has(name)) parsed.set(name, getSourceFile.call(host, name, languageVersion, ...rest));
    return parsed.get(name);
  };
  if (withCanary) {
    const { readFile, fileExists } = host;
    host.readFile = (name) => (name === CANARY ? CANARY_SOURCE : readFile.call(host, name));
    host.fileExists = (name) => name === CANARY || fileExists.call(host, name);
  }
  const rootNames = withCanary ? [...config.fileNames, CANARY] : config.fileNames;
  const program = ts.createProgram({ rootNames, options: config.options, host });
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    file: d.file?.fileName ?? '',
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

describe('type tests', () => {
  it('untyped and typed sessions: no error and no unused @ts-expect-error (and the canary misuse is reported)', () => {
    const diagnostics = diagnosticsOf('tsconfig.json', true);
    expect(diagnostics.filter((d) => d.file !== CANARY)).toEqual([]);
    expect(diagnostics.filter((d) => d.file === CANARY).map((d) => d.message)).toEqual([
      expect.stringMatching(/not assignable to parameter of type/),
    ]);
  });

  it('a session typed app-wide by augmenting SessionStateData (a program of its own)', () => {
    expect(diagnosticsOf('tsconfig.augmented.json')).toEqual([]);
  });
});
