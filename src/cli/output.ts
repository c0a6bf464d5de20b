import { RatchetError } from '../util/errors.js';

/** Print a value as pretty JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A progress line writer: to stderr when stdout carries JSON, else to stdout.
 * Long work prints one line per step so logs and CI show it too.
 */
export function progressWriter(json: boolean): (line: string) => void {
  const stream = json ? process.stderr : process.stdout;
  return (line: string) => stream.write(`${line}\n`);
}

/**
 * Wrap a command action: a RatchetError prints its message and fix (no stack) and sets its exit code;
 * any other error prints the stack, exit 1.
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      if (e instanceof RatchetError) {
        process.stderr.write(`ratchet: ${e.render()}\n`);
        process.exitCode = e.exitCode;
      } else {
        process.stderr.write(`ratchet: ${(e as Error).stack ?? String(e)}\n`);
        process.exitCode = 1;
      }
    }
  };
}

/** Parse an integer option. @throws RatchetError naming the option */
export function intOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new RatchetError(`${name} must be a positive integer, got "${v}"`, { field: name });
  return n;
}
