import { fileURLToPath } from 'node:url';

/**
 * Root folder of the Ratchet package (holds templates/, examples/, python/ and, in a source checkout, .venv/).
 * Works from the compiled `dist/src/util/paths.js` and from the TypeScript source `src/util/paths.ts`.
 */
export function packageDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.includes('/dist/src/')
    ? fileURLToPath(new URL('../../../', import.meta.url))
    : fileURLToPath(new URL('../../', import.meta.url));
}
