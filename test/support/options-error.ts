import { expect } from 'vitest';
import type { SessionStateModuleOptions } from '../../src/index.js';
import { resolveSessionStateOptions } from '../../src/module/session-state.options.js';

/** The startup error for `options`, as the module's options provider throws it (a TypeError listing each problem). */
export function optionsError(options: unknown): string {
  try {
    resolveSessionStateOptions(options as SessionStateModuleOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as Error).message;
  }
  throw new Error('the options were accepted');
}
