import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The type tests (`fixtures/*.types.ts`: `expectTypeOf` and `@ts-expect-error`) are compiled here,
 * as part of `npm test`: a type error, or an `@ts-expect-error` that is no longer needed, fails.
 */
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

function diagnosticsOf(tsconfig: string): string[] {
  const path = fixtures + tsconfig;
  const config = ts.getParsedCommandLineOfConfigFile(path, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (!config) throw new Error(`cannot read ${path}`);
  if (config.errors.length > 0 || config.fileNames.length === 0) throw new Error(`${path}: no type-test files (${config.errors.map((e) => e.messageText).join('; ')})`);
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('type tests', () => {
  it.each(['tsconfig.json', 'tsconfig.augmented.json'])('%s compiles with no error and no unused @ts-expect-error', (tsconfig) => {
    expect(diagnosticsOf(tsconfig)).toEqual([]);
  });

  it('would catch a regression: a wrong key is a type error', () => {
    // The harness itself can fail: a fixture-like program with a misuse reports it.
    const source = "import type { HttpSessionState } from 'nestjs-session-state';\n" +
      "declare const s: HttpSessionState<{ a: number }>;\ns.set('a', 'not a number');\n";
    const host = ts.createCompilerHost({});
    const file = fixtures + 'inline-regression.types.ts';
    const readFile = host.readFile.bind(host);
    host.readFile = (name) => (name === file ? source : readFile(name));
    host.fileExists = ((exists) => (name: string) => name === file || exists(name))(host.fileExists.bind(host));
    const config = ts.getParsedCommandLineOfConfigFile(fixtures + 'tsconfig.json', {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
    const program = ts.createProgram({ rootNames: [file], options: config.options, host });
    const messages = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(messages.join('\n')).toMatch(/not assignable/);
  });
});
