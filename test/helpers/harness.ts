/**
 * A real harness project with a run, for the report's and the Studio's harness views: the bundled harness-qa
 * example initialized in a temporary folder, its endpoint pointed at the stand-in model (an OpenAI-compatible
 * server in this process, behind Ratchet's host proxy), and the loop run with scripted params.yaml changes, as
 * test/harness/harness-task.test.ts does.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initProject } from '../../src/contract/init.js';
import { type StandIn, startStandIn } from '../../src/harness/stand-in.js';
import { type ExperimentRecord, Journal } from '../../src/journal/store.js';
import { runLoop } from '../../src/loop/run.js';
import { ROOT, tempDir } from './project.js';
import { ScriptedProposer, type ScriptedStep } from './scripted.js';

/** The key the stand-in expects; only the host proxy ever holds it. */
export const HARNESS_KEY = 'sk-host-only-4b9e1d70aa';
/** A hypothesis with markup: the Studio and the report must show it as text. */
export const MARKUP_HYPOTHESIS =
  'drop the worked examples <script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2" id="pwn">';

/** Start the stand-in model and set the key variable the contract names (RATCHET_HARNESS_KEY). */
export async function startHarnessModel(): Promise<{ standIn: StandIn; close: () => Promise<void> }> {
  const standIn = await startStandIn({ key: HARNESS_KEY });
  process.env['RATCHET_HARNESS_KEY'] = HARNESS_KEY;
  return {
    standIn,
    close: async () => {
      delete process.env['RATCHET_HARNESS_KEY'];
      await standIn.close();
    },
  };
}

/** The example's params.yaml with some keys replaced. */
export function harnessParams(dir: string, over: Record<string, string>): string {
  let text = readFileSync(join(dir, 'params.yaml'), 'utf8');
  for (const [k, v] of Object.entries(over)) text = text.replace(new RegExp(`^${k}: .*$`, 'm'), `${k}: ${v}`);
  return text;
}

/**
 * The example as a project (endpoint at the stand-in, the contract edited by `edit`), initialized.
 * @returns the project folder
 */
export async function harnessProject(standIn: StandIn, edit: (yaml: string) => string = (y) => y) {
  const dir = tempDir('ratchet-harness-');
  cpSync(join(ROOT, 'examples', 'harness-qa'), dir, { recursive: true });
  const yaml = readFileSync(join(dir, 'ratchet.yaml'), 'utf8').replace(
    'http://127.0.0.1:8400/v1',
    standIn.url,
  );
  writeFileSync(join(dir, 'ratchet.yaml'), edit(yaml));
  await initProject(dir);
  return dir;
}

/** A harness.py that answers the arithmetic tasks in Python, asking the model nothing (model-bypass: rejected). */
export const BYPASS_HARNESS = `
import csv, os, re
out = os.environ["RATCHET_OUTPUT"]
for split in ("public", "private"):
    rows = list(csv.DictReader(open(os.environ["RATCHET_" + split.upper()])))
    with open(out + "/" + split + ".csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow(["task_id", "prediction"])
        for r in rows:
            m = re.match(r"What is (\\d+) ([*+-]) (\\d+)\\?", r["input"])
            w.writerow([r["task_id"], str(eval(m.group(1) + m.group(2) + m.group(3))) if m else ""])
`;

/**
 * Three params changes after the baseline: a cost cut at an equal score (kept, its hypothesis with markup), a
 * score gain that costs tokens (kept), and a cheaper harness that answers worse (reverted); then a harness that
 * answers around the model (rejected by the model-bypass guardrail, at no cost).
 */
export function harnessSteps(dir: string): ScriptedStep[] {
  const cut = { examples_arithmetic: '0', examples_reversal: '0' };
  return [
    { hypothesis: MARKUP_HYPOTHESIS, files: { 'params.yaml': harnessParams(dir, cut) } },
    {
      hypothesis: 'state every skill and ask for the bare result',
      files: {
        'params.yaml': harnessParams(dir, {
          ...cut,
          skill_conversion: 'true',
          skill_counting: 'true',
          format_instruction: 'true',
        }),
      },
    },
    {
      hypothesis: 'no worked example at all and a shorter completion limit',
      files: {
        'params.yaml': harnessParams(dir, {
          ...cut,
          examples_counting: '0',
          skill_reversal: 'false',
          max_tokens: '8',
        }),
      },
    },
    {
      hypothesis: 'answer the arithmetic tasks in Python instead of asking the model',
      files: { 'harness.py': BYPASS_HARNESS },
    },
  ];
}

/**
 * Run the loop on a harness project with scripted changes.
 * @returns the run id and its experiments
 */
export async function runHarness(
  dir: string,
  steps: ScriptedStep[],
): Promise<{ runId: string; exps: ExperimentRecord[] }> {
  const s = await runLoop({
    projectDir: dir,
    proposer: async () => new ScriptedProposer(steps),
    maxExperiments: steps.length + 1,
    experimentTimeoutMs: 120_000,
  });
  const j = Journal.open(dir, { readonly: true });
  try {
    return { runId: s.runId, exps: j.listExperiments(s.runId) };
  } finally {
    j.close();
  }
}
