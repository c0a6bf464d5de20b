import { join, relative } from 'node:path';
import { CONTRACT_FILE, type Contract, loadContract } from '../contract/load.js';
import { type Lock, readLock, verifyLock } from '../contract/lock.js';
import { readManifest, type SplitManifest } from '../data/ingest.js';
import { readFindings, refuseBlockingFindings } from '../data/scan.js';
import { git, requireRepo } from '../git/git.js';
import { guardrail } from '../guardrails/registry.js';
import { nvidiaDevices } from '../sandbox/gpu.js';
import { type PythonRuntime, probeSandbox, resolvePython, treeLimitMechanism } from '../sandbox/index.js';
import { RatchetError } from '../util/errors.js';
import { packageDir } from '../util/paths.js';
import type { Executor } from './executor.js';

/** A project that passed the checks every run and check starts with. */
export interface Ready {
  contract: Contract;
  lock: Lock;
  manifest: SplitManifest;
  /** HEAD of the project's repository. */
  head: string;
  python: PythonRuntime;
  /** What holds the sandboxed tree's memory and task caps here (cgroup v2 or the host watchdog), one line. */
  treeLimits: string;
}

/**
 * Refuse to run when the raw data (every label, holdouts included) would be visible in a worktree.
 * @throws RatchetError (vault-isolation, exit 3) naming the data file and the fix
 */
export async function guardVaultIsolation(contract: Contract): Promise<void> {
  const rel = relative(contract.projectDir, join(contract.projectDir, contract.data.source));
  if (rel.startsWith('..')) return;
  const tracked = (await git(contract.projectDir, ['ls-files', '--', rel])).trim();
  if (tracked) {
    throw new RatchetError(
      `${rel} is tracked by git, so every holdout label would be readable from the sandbox`,
      {
        file: rel,
        hint: `git rm --cached ${rel} && echo ${rel} >> .gitignore && git commit -m "untrack data" (guardrail ${guardrail('vault-isolation').id})`,
        exitCode: 3,
      },
    );
  }
}

/**
 * The checks before any experiment: the contract is valid and matches its lock (contract files and
 * splits), the project is a git repository with a commit, the raw data is not tracked, the sandbox works
 * (unless `unsafe`), the GPUs the contract asks for are on this machine (when experiments run here), and a Python
 * interpreter is found.
 * @param opts.unsafe the person's `--unsafe-no-sandbox` (no sandbox probe)
 * @param opts.executor where the experiments run (`--executor`; default the contract's `executor.kind`). On `ray`
 *   the GPUs are the workers', which Ray grants per job (the entry script fails a job whose GPU it cannot bind), so
 *   this machine needs none.
 * @throws RatchetError naming the file, the field and the fix
 */
export async function preflight(
  projectDir: string,
  opts: { unsafe: boolean; executor?: Executor['kind'] },
): Promise<Ready> {
  const contract = loadContract(projectDir);
  const lock = readLock(projectDir);
  await verifyLock(lock, projectDir, projectDir);
  const manifest = readManifest(projectDir);
  const head = await requireRepo(projectDir);
  refuseBlockingFindings(readFindings(projectDir));
  await guardVaultIsolation(contract);
  const treeLimits = treeLimitMechanism().detail;
  if (!opts.unsafe) {
    const probe = await probeSandbox();
    if (!probe.ok) {
      throw new RatchetError(`bubblewrap cannot sandbox experiments here: ${probe.reason}`, {
        hint: 'install it (apt-get install bubblewrap), or pass --unsafe-no-sandbox to run unprotected (recorded on every experiment)',
      });
    }
  }
  const want = contract.resources.gpus;
  const local = (opts.executor ?? contract.executor.kind) === 'local';
  const have = want > 0 && local ? nvidiaDevices().gpus.length : 0;
  if (local && want > have) {
    throw new RatchetError(`the contract asks for ${want} GPU(s) per experiment; this machine has ${have}`, {
      file: CONTRACT_FILE,
      field: 'resources.gpus',
      hint:
        have === 0
          ? 'set resources.gpus: 0 (no NVIDIA device under /dev)'
          : `set resources.gpus to at most ${have}`,
    });
  }
  const python = await resolvePython({ explicit: contract.run.python, projectDir, installDir: packageDir() });
  return { contract, lock, manifest, head, python, treeLimits };
}
