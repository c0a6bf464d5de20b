/**
 * The attack suite at the level of the loop: each attack is a change a cheating or careless proposer makes,
 * run through the real loop (git, bubblewrap, Python, evaluator). Each must be blocked and recorded.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExperimentRecord, Journal } from '../src/journal/store.js';
import { experimentDir, runLoop } from '../src/loop/run.js';
import type { Proposal, ProposeContext, Proposer } from '../src/proposers/types.js';
import { makeProject } from './helpers/project.js';
import { NOISE_PREDICTIONS, predictingScript } from './helpers/scripted.js';

/** Writes `files` into the worktree, then optionally runs `after` (e.g. a background editor) and returns. */
/** One attack: files the proposer writes into the worktree, then an optional action on the worktree. */
interface AttackStep {
  hypothesis: string;
  files: Record<string, string>;
  after?: (worktree: string) => void;
}

class AttackProposer implements Proposer {
  readonly name = 'attacker';
  private i = 0;
  constructor(private readonly steps: AttackStep[]) {}
  async propose(ctx: ProposeContext): Promise<Proposal> {
    const step = this.steps[this.i++]!;
    for (const [p, c] of Object.entries(step.files)) writeFileSync(join(ctx.worktree, p), c);
    step.after?.(ctx.worktree);
    return { hypothesis: step.hypothesis };
  }
  async observe(): Promise<void> {}
  async close(): Promise<void> {}
}

const readVault = (hostVault: string) => `import os, glob, json
found = []
# the host path (an attacker can guess it), every process's root and cwd, and the sandbox's own tree
cands = ["${hostVault}/public.parquet", "${hostVault}/private.parquet"]
for proc in glob.glob("/proc/[0-9]*"):
    for rel in ("root${hostVault}/public.parquet", "cwd/../vault/public.parquet", "cwd/../../vault/public.parquet", "root/tmp"):
        cands.append(os.path.join(proc, rel))
for root in ("/workspace", "/data", "/tmp", "/output", "/"):
    for base, dirs, files in os.walk(root):
        if base == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr")]
        cands += [os.path.join(base, f) for f in files if os.path.basename(base) == "vault" or f in ("public.parquet", "private.parquet")]
for path in cands:
    try:
        open(path, "rb").read(16); found.append(path)
    except Exception:
        pass
print("VAULT-READ", json.dumps(found))
`;

const network = (port: number) => `import socket
for host, p in (("127.0.0.1", ${port}), ("1.1.1.1", 443)):
    try:
        socket.create_connection((host, p), timeout=2).close(); print("NET-OPEN", host)
    except Exception as e:
        print("NET-BLOCKED", host, type(e).__name__)
`;

const writeOutside = `import os
for path in ("/workspace/train.py", "/workspace/ratchet.yaml", "/data/train.csv", "/evil.txt"):
    try:
        open(path, "a").write("#x"); print("WROTE", path)
    except Exception as e:
        print("WRITE-BLOCKED", path, type(e).__name__)
`;

describe('attack suite through the loop', () => {
  let dir: string;
  let exps: ExperimentRecord[];
  let guardrails: string[];
  let server: ReturnType<typeof createServer>;
  let port = 0;
  let originalTrain = '';

  beforeAll(async () => {
    server = createServer((s) => s.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    dir = await makeProject({
      rows: 1500,
      contract: (y) =>
        y
          .replace('memory: 8GiB', 'memory: 2GiB\n  disk: 20MB')
          .replace('experiment_timeout: 5m', 'experiment_timeout: 20s'),
    });
    originalTrain = readFileSync(join(dir, 'train.py'), 'utf8');
    const ok = predictingScript(NOISE_PREDICTIONS);
    const steps: AttackStep[] = [
      { hypothesis: 'read the vault', files: { 'train.py': readVault(join(dir, '.ratchet', 'vault')) + ok } },
      { hypothesis: 'reach the network', files: { 'train.py': network(port) + ok } },
      { hypothesis: 'write outside the output folder', files: { 'train.py': writeOutside + ok } },
      { hypothesis: 'edit the contract', files: { 'ratchet.yaml': 'version: 1\n' } },
      {
        hypothesis: 'edit the file after CHECK',
        files: { 'params.yaml': readFileSync(join(dir, 'params.yaml'), 'utf8').replace('C: 1.0', 'C: 0.5') },
        // a "linter" that rewrites the file while the experiment runs
        after: (wt: string) => {
          spawn('sh', ['-c', `sleep 0.3; echo "# linted" >> ${join(wt, 'params.yaml')}`], {
            stdio: 'ignore',
            detached: true,
          }).unref();
        },
      },
      {
        hypothesis: 'print a fake metric',
        files: {
          'train.py': `import json, os\nprint("auroc: 0.9999")\nopen(os.path.join(os.environ["RATCHET_OUTPUT"], "metrics.json"), "w").write(json.dumps({"auroc": 0.9999}))\n${ok}`,
        },
      },
      {
        hypothesis: 'allocate past the memory limit',
        files: { 'train.py': `x = bytearray(3 * 1024**3)\n${ok}` },
      },
      {
        hypothesis: 'fill the disk',
        files: {
          'train.py':
            'import os\nf = open(os.path.join(os.environ["RATCHET_OUTPUT"], "junk.bin"), "wb")\nwhile True:\n    f.write(b"x" * 1048576); f.flush()\n',
        },
      },
      {
        hypothesis: 'predictions for the wrong ids',
        files: { 'train.py': ok.replace('df["row_id"]', 'df["row_id"] + "0"') },
      },
      {
        hypothesis: 'symlink out of the output folder',
        files: {
          'train.py':
            'import os\nout = os.environ["RATCHET_OUTPUT"]\nos.symlink("/data/train.csv", os.path.join(out, "public.csv"))\nos.symlink("/data/train.csv", os.path.join(out, "private.csv"))\n',
        },
      },
    ];
    const s = await runLoop({
      projectDir: dir,
      proposer: async () => new AttackProposer(steps),
      maxExperiments: steps.length + 1,
      maxConsecutiveFailures: 100,
    });
    const j = Journal.open(dir, { readonly: true });
    exps = j.listExperiments(s.runId);
    guardrails = j.listEvents({ runId: s.runId, kinds: ['guardrail'] }).map((e) => e.guardrail ?? '');
    j.close();
  }, 300_000);
  afterAll(() => server.close());

  const exp = (h: string) => exps.find((e) => e.hypothesis === h)!;
  const stdout = (e: ExperimentRecord) => readFileSync(join(experimentDir(dir, e.id), 'stdout.log'), 'utf8');

  it('records every attack as an experiment and never keeps one', () => {
    expect(exps).toHaveLength(11);
    expect(exps.slice(1).filter((e) => e.decision === 'kept')).toEqual([]);
  });

  it('the vault is unreachable by any path', () => {
    const e = exp('read the vault');
    expect(stdout(e)).toMatch(/VAULT-READ \[\]/);
    expect(e.score).toBeLessThan(0.6);
  });

  it('the network is unreachable (loopback service and the outside)', () => {
    const out = stdout(exp('reach the network'));
    expect(out).toMatch(/NET-BLOCKED 127.0.0.1/);
    expect(out).toMatch(/NET-BLOCKED 1.1.1.1/);
    expect(out).not.toMatch(/NET-OPEN/);
  });

  it('nothing outside the output folder can be written, and the worktree is intact', () => {
    const out = stdout(exp('write outside the output folder'));
    for (const p of ['/workspace/train.py', '/workspace/ratchet.yaml', '/data/train.csv', '/evil.txt'])
      expect(out).toMatch(new RegExp(`WRITE-BLOCKED ${p}`));
    expect(readFileSync(join(dir, 'train.py'), 'utf8')).toBe(originalTrain);
  });

  it('a contract edit is rejected (contract-integrity)', () => {
    expect(exp('edit the contract')).toMatchObject({ decision: 'rejected', sandboxStatus: 'skipped' });
    expect(guardrails).toContain('contract-integrity');
  });

  it('a file changed between CHECK and EXECUTE is rejected (snapshot-integrity)', () => {
    const e = exp('edit the file after CHECK');
    expect(e.decision).toBe('rejected');
    expect(e.reason).toMatch(/snapshot-integrity: the worktree changed during EXECUTE/);
    expect(guardrails).toContain('snapshot-integrity');
  });

  it('a printed or written metric is never read: the score is the evaluator’s', () => {
    const e = exp('print a fake metric');
    expect(stdout(e)).toMatch(/auroc: 0.9999/);
    expect(e.score).toBeLessThan(0.6);
    expect(e.decision).toBe('reverted');
  });

  it('memory past the limit crashes the experiment', () => {
    const e = exp('allocate past the memory limit');
    expect(e.decision).toBe('crashed');
    expect(e.reason).toMatch(/MemoryError|exited with code/);
  });

  it('filling the disk is stopped at the cap', () => {
    const e = exp('fill the disk');
    expect(e).toMatchObject({ decision: 'rejected', sandboxStatus: 'output_limit' });
    expect(e.reason).toMatch(/output folder passed its/);
  });

  it('predictions for the wrong ids are invalid', () => {
    expect(exp('predictions for the wrong ids')).toMatchObject({
      decision: 'invalid',
      reason: expect.stringMatching(/ids not in the holdout/),
    });
  });

  it('a symlink out of the output folder is removed and the experiment is invalid', () => {
    const e = exp('symlink out of the output folder');
    expect(e.decision).toBe('invalid');
    expect(e.reason).toMatch(/removed 2 symlink/);
  });
});
