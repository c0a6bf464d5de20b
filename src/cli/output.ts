import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
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
 * The shape of an error under `--json`, printed on stdout (the exit code is the same as without `--json`):
 * `{"error": {"message", "file", "field", "hint", "exitCode"}}` (absent parts are null).
 */
export interface JsonError {
  error: {
    message: string;
    file: string | null;
    field: string | null;
    hint: string | null;
    exitCode: number;
  };
}

/**
 * Report a failed command and set the exit code: a RatchetError prints its message and fix (no stack) with
 * its exit code; any other error prints its stack, exit 1. With `json`, the error goes to stdout as a
 * {@link JsonError} instead (any stack goes to stderr).
 */
export function reportError(e: unknown, json: boolean): void {
  const known = e instanceof RatchetError;
  const exitCode = known ? e.exitCode : 1;
  if (json) {
    const body: JsonError = {
      error: {
        message: known ? e.message : e instanceof Error ? e.message : String(e),
        file: known ? (e.file ?? null) : null,
        field: known ? (e.field ?? null) : null,
        hint: known ? (e.hint ?? null) : null,
        exitCode,
      },
    };
    printJson(body);
    if (!known) process.stderr.write(`ratchet: ${(e as Error)?.stack ?? String(e)}\n`);
  } else if (known) {
    process.stderr.write(`ratchet: ${e.render()}\n`);
  } else {
    process.stderr.write(`ratchet: ${(e as Error)?.stack ?? String(e)}\n`);
  }
  process.exitCode = exitCode;
}

/** True when the command's options (the Command commander passes last to an action) ask for `--json`. */
function wantsJson(args: unknown[]): boolean {
  const cmd = args[args.length - 1];
  if (cmd instanceof Command) return Boolean(cmd.opts()['json']);
  const o = args.find((a) => a !== null && typeof a === 'object' && !Array.isArray(a) && 'json' in a);
  return Boolean((o as { json?: unknown } | undefined)?.json);
}

/**
 * Wrap a command action: errors are reported by {@link reportError} (as JSON on stdout when the command
 * was given `--json`), with the error's exit code.
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      reportError(e, wantsJson(args));
    }
  };
}

/**
 * The error every command run outside a Ratchet project gives: it names the folder and the fix.
 * @param dir the folder the command looked in (absolute)
 */
export function notAProject(dir: string): RatchetError {
  return new RatchetError(`not a Ratchet project: ${dir} has no ratchet.yaml`, {
    hint: 'run `ratchet init --data <file> --target <column> --task <binary|multiclass|regression>` to make one here (or `ratchet demo` for an example), or cd into a project / pass --dir <project>',
    exitCode: 2,
  });
}

/**
 * Check that `dir` is a Ratchet project: it holds ratchet.yaml, or at least a journal (.ratchet/ratchet.db,
 * enough for the read-only commands such as `ratchet traces`).
 * @returns the absolute folder
 * @throws RatchetError ({@link notAProject}) otherwise
 */
export function requireProject(dir: string): string {
  const abs = resolve(dir);
  if (!existsSync(join(abs, 'ratchet.yaml')) && !existsSync(join(abs, '.ratchet', 'ratchet.db')))
    throw notAProject(abs);
  return abs;
}

/** Parse an integer option. @throws RatchetError naming the option (as its field) */
export function intOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new RatchetError(`${name} must be a positive integer, got "${v}"`, {
      field: name,
      hint: `give a whole number of at least 1, e.g. ${name} 10`,
    });
  return n;
}
