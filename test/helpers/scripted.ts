import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Proposal, ProposeContext, Proposer } from '../../src/proposers/types.js';

/** One scripted change: files to write (path → content, null = delete) and the hypothesis. */
export interface ScriptedStep {
  hypothesis: string;
  files: Record<string, string | null>;
}

/**
 * A scripted stand-in for a coding agent: at each PROPOSE it writes the next step's files into the worktree,
 * like an agent editing code would. It records whether the worktree was clean when it was called.
 */
export class ScriptedProposer implements Proposer {
  readonly name = 'scripted';
  /** `git status --porcelain` of the worktree at each propose (must be empty: the loop reverts). */
  readonly statusAtPropose: string[] = [];
  readonly observed: { seq: number; decision: string; score: number | null }[] = [];
  private i = 0;

  constructor(private readonly steps: ScriptedStep[]) {}

  async propose(ctx: ProposeContext): Promise<Proposal> {
    this.statusAtPropose.push(
      spawnSync('git', ['status', '--porcelain', '--untracked-files=all'], {
        cwd: ctx.worktree,
        encoding: 'utf8',
      }).stdout,
    );
    const step = this.steps[this.i++ % this.steps.length]!;
    for (const [path, content] of Object.entries(step.files)) {
      const full = join(ctx.worktree, path);
      if (content === null) rmSync(full, { force: true });
      else writeFileSync(full, content);
    }
    return { hypothesis: step.hypothesis, params: { step: this.i } };
  }

  async observe(o: { seq: number; decision: string; score: number | null }): Promise<void> {
    this.observed.push({ seq: o.seq, decision: o.decision, score: o.score });
  }

  async close(): Promise<void> {}
}

/** A train.py that writes predictions from a Python expression over the holdout frame `df` (numpy as np). */
export function predictingScript(expr: string, preamble = ''): string {
  return `import os, numpy as np, pandas as pd
${preamble}
out = os.environ["RATCHET_OUTPUT"]
for name, path in (("public", os.environ["RATCHET_PUBLIC"]), ("private", os.environ["RATCHET_PRIVATE"])):
    df = pd.read_csv(path, dtype={"row_id": str})
    pd.DataFrame({"row_id": df["row_id"], "prediction": ${expr}}).to_csv(os.path.join(out, name + ".csv"), index=False)
print("wrote predictions")
`;
}

/** Predictions that carry no signal but are neither constant nor in row order: a hash of the row id. */
export const NOISE_PREDICTIONS = '(df["row_id"].astype(int) * 7919 % 1009) / 1009';
