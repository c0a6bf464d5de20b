/**
 * Which executor a run uses (docs/ARCHITECTURE.md, "Executors"): the contract's `executor.kind`, or the
 * `--executor` option of `ratchet run` and `ratchet check`.
 */

import type { Contract } from '../contract/load.js';
import { RayExecutorSchema } from '../contract/schema.js';
import { type Executor, LocalExecutor } from '../loop/executor.js';
import type { PythonRuntime } from '../sandbox/types.js';
import { RatchetError } from '../util/errors.js';
import { RayExecutor, rayConfig } from './ray.js';

/** The kinds of executor. */
export type ExecutorKind = Executor['kind'];
/** Every kind, for option parsing and messages. */
export const EXECUTOR_KINDS: readonly ExecutorKind[] = ['local', 'ray'];

/**
 * Parse `--executor`.
 * @returns the kind, or undefined when the option was not given
 * @throws RatchetError naming the option and its values
 */
export function executorKindOption(v: string | undefined): ExecutorKind | undefined {
  if (v === undefined) return undefined;
  if ((EXECUTOR_KINDS as readonly string[]).includes(v)) return v as ExecutorKind;
  throw new RatchetError(`--executor must be ${EXECUTOR_KINDS.join(' or ')}, got "${v}"`, {
    field: '--executor',
    hint: "use --executor local (bubblewrap on this machine) or --executor ray (the contract's executor section)",
  });
}

/**
 * The executor a run or a check uses. Never throws: a Ray configuration that cannot work (a size that does not
 * parse, `--unsafe-no-sandbox`) is reported by the executor's `prepare` and by each of its runs.
 * @param contract the project's contract (its `executor` section; defaults when it names another kind)
 * @param python the interpreter the command runs with
 * @param unsafe the person's `--unsafe-no-sandbox` (the local executor only: a Ray job always runs sandboxed)
 * @param concurrent jobs at once (parallel directions)
 * @param override the `--executor` option, when given
 */
export function executorFor(
  contract: Contract,
  python: PythonRuntime,
  unsafe: boolean,
  concurrent = 1,
  override?: ExecutorKind,
): Executor {
  const kind = override ?? contract.executor.kind;
  if (kind === 'local') return new LocalExecutor(python, unsafe, concurrent);
  const doc = contract.executor.kind === 'ray' ? contract.executor : RayExecutorSchema.parse({ kind: 'ray' });
  let config: ReturnType<typeof rayConfig> | RatchetError;
  if (unsafe) {
    config = new RatchetError(
      '--unsafe-no-sandbox cannot be used with the Ray executor: its jobs always run under bubblewrap on the worker',
      {
        field: '--unsafe-no-sandbox',
        hint: 'drop --unsafe-no-sandbox, or run on this machine: --executor local',
      },
    );
  } else {
    try {
      config = rayConfig(doc);
    } catch (e) {
      config = e as RatchetError;
    }
  }
  return new RayExecutor(contract, python, config, concurrent);
}
