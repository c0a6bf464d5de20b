/**
 * `npm run bench [-- <suite...>] [--quick]`: benchmarks that print figures (targets are stated next to them, not
 * asserted). Suites (default: all, in this order):
 *   - overhead: harness overhead per experiment at 100k and 3M rows per holdout
 *   - metrics: metric engine vs scikit-learn at 1M and 10M rows (auroc, log_loss, rmse, average_precision,
 *     ndcg@10; max abs difference and speed ratio per metric and size)
 *   - keep: the keep rule's tests (DeLong, paired z, paired bootstrap) at 100k, 1M and 3M rows
 *   - stop: the kill switch, ratchet stop to the run's exit (target ≤ 1 s)
 *   - watchdog: the process-tree watchdog's host CPU per tick for a tree of 20 processes (target ≤ 5 ms)
 *   - memory: peak RSS of the node process in init, check and a short run at 3M rows per holdout (target ≤ 300 MB)
 *   - ray: the Ray executor on a local Ray head against the local executor, per-experiment overhead (target ≤ 1 s)
 *     and experiments per hour; needs .venv-ray (scripts/setup.sh --with-ray)
 *   - proposer: the search proposer vs Optuna TPE alone vs AutoGluon medium_quality on three public datasets,
 *     150 s wall clock per method and dataset (60 s with --quick); needs .venv-bench (scripts/setup.sh --with-bench)
 *   - directions: experiments per hour of `ratchet run --directions 2` vs one direction on this machine with
 *     single-threaded training, 16 experiments each (8 with --quick; target ratio ≥ 1.8×), and the kill switch with
 *     both directions hanging (target ≤ 1 s)
 *   - scale: beyond this machine, by simulation: the real scheduler with 64 directions (the most a run may have) in
 *     front of a simulated 64-slot executor, 5,000 experiments (500 with --quick): slot utilization (target ≥ 90 %), experiments per
 *     hour, journal write latency, RSS over the soak (target growth < 10 %), Studio answer time (target < 200 ms)
 *   - ope: off-policy accuracy on real logs: each estimator's relative error against the on-policy truth of the Open
 *     Bandit Dataset's Thompson-sampling policy, estimated from the uniform-random logs (public, private, pooled)
 * `--quick` uses smaller sizes; `--json <file>` writes the proposer table as JSON; `--help` prints the usage.
 */
import { Command, InvalidArgumentError } from 'commander';
import { benchDirections, QUICK_DIRECTIONS } from './directions.js';
import { benchKeep } from './keep.js';
import { benchMemory } from './memory.js';
import { benchMetrics } from './metrics.js';
import { benchOpe } from './ope.js';
import { benchOverhead } from './overhead.js';
import { benchProposer, DEFAULT_BUDGET_S, QUICK_BUDGET_S } from './proposer.js';
import { benchRay } from './ray.js';
import { benchScale, QUICK_SCALE } from './scale.js';
import { benchStop } from './stop.js';
import { benchWatchdog } from './watchdog.js';

interface BenchOptions {
  quick?: boolean;
  json?: string;
}

const SUITES = {
  overhead: (quick: boolean) => benchOverhead(quick ? [100_000] : [100_000, 3_000_000]),
  metrics: (quick: boolean) => benchMetrics(quick ? { sizes: [1_000_000], bootstrapSizes: [100_000] } : {}),
  keep: (quick: boolean) =>
    quick ? benchKeep([100_000, 1_000_000], 100_000) : benchKeep([100_000, 1_000_000, 3_000_000]),
  stop: (quick: boolean) => benchStop(quick ? 1 : 3),
  watchdog: (_quick: boolean) => benchWatchdog(),
  memory: (quick: boolean) => benchMemory(quick ? 100_000 : 3_000_000),
  ray: (quick: boolean) => benchRay(quick ? 3 : 5),
  proposer: async (quick: boolean, o: BenchOptions) => {
    await benchProposer({
      budgetS: quick ? QUICK_BUDGET_S : DEFAULT_BUDGET_S,
      ...(o.json ? { jsonPath: o.json } : {}),
    });
  },
  directions: (quick: boolean) => benchDirections(quick ? QUICK_DIRECTIONS : {}),
  scale: (quick: boolean) => benchScale(quick ? QUICK_SCALE : {}),
  ope: async (_quick: boolean) => {
    await benchOpe();
  },
} as const;
type Suite = keyof typeof SUITES;

const program = new Command('npm run bench --')
  .description('Ratchet benchmarks: print figures (targets are stated beside them, never asserted)')
  .argument('[suite...]', `which to run: ${Object.keys(SUITES).join(', ')} (default: all)`)
  .option(
    '--quick',
    'smaller sizes (100k rows overhead, 1M rows metrics, one stop, 60 s proposer budget, 8 experiments per directions run, 500 simulated experiments of ~1 s at scale)',
  )
  .option('--json <file>', 'proposer: also write its table as JSON to this file')
  .action(async (suites: string[], o: BenchOptions) => {
    for (const s of suites)
      if (!(s in SUITES))
        throw new InvalidArgumentError(`unknown suite "${s}": use ${Object.keys(SUITES).join(', ')}`);
    const run = (suites.length ? suites : Object.keys(SUITES)) as Suite[];
    console.log(
      `# Ratchet benchmarks: ${run.join(', ')}${o.quick ? ' (quick)' : ''} (${new Date().toISOString()}, node ${process.version})`,
    );
    for (const s of run) await SUITES[s](Boolean(o.quick), o);
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  console.error(`bench: ${(e as Error).message}`);
  process.exitCode = 2;
}
