/**
 * Micro-benchmark of the keep rule's significance tests (stage 2): DeLong's test (auroc; cold, and with
 * the best model's sort cached as in the loop — the timing then includes copying the candidate), the paired
 * z-test (log_loss) and the paired bootstrap (auroc, the contract's default 1000 resamples, no early
 * stop) on seeded binary data at 100k, 1M and 3M rows. Each is timed with `performance.now()`, one
 * warm-up call, median of 3 (the bootstrap: one call, it is long). Figures are printed, not asserted;
 * the target is the whole decide step within the 0.1 s (100k) / 2 s (3M) overhead budget.
 *
 * Run: `npm run bench -- keep [--quick]` (quick: 100k and 1M, bootstrap at 100k only).
 */

import { delongTest, pairedBootstrap, pairedZTest, Xoshiro128 } from '../src/metrics/index.js';

/** Seeded binary predictions of two models on the same n rows (B slightly better than A). */
function data(n: number): { y: Uint8Array; pa: Float64Array; pb: Float64Array } {
  const rng = new Xoshiro128(n);
  const y = new Uint8Array(n);
  const pa = new Float64Array(n);
  const pb = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const yi = rng.nextFloat() < 0.3 ? 1 : 0;
    y[i] = yi;
    const u = rng.nextFloat();
    pa[i] = 0.3 * yi + 0.7 * u;
    pb[i] = Math.min(1, Math.max(0, 0.31 * yi + 0.69 * u + (rng.nextFloat() - 0.5) * 0.05));
  }
  return { y, pa, pb };
}

function time(f: () => unknown, reps: number): number {
  if (reps > 1) f();
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[(ts.length - 1) >> 1]!;
}

/**
 * Time the three tests at each size and print a markdown table (ms).
 * @param sizes rows (default 100k, 1M, 3M); @param bootstrapMax largest size the bootstrap runs at.
 */
export async function benchKeep(
  sizes = [100_000, 1_000_000, 3_000_000],
  bootstrapMax = 3_000_000,
): Promise<void> {
  console.log("\n## Keep rule's significance tests (binary, two models on the same rows)");
  console.log(
    '| rows | DeLong auroc cold ms | DeLong auroc, best cached ms | paired z log_loss ms | bootstrap auroc ×1000 ms | DeLong z | bootstrap P(better) |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const n of sizes) {
    const { y, pa, pb } = data(n);
    const a = { task: 'binary' as const, y, p: pa };
    const b = { task: 'binary' as const, y, p: pb };
    let z = 0;
    // Cold: neither model's sort is cached (fresh copies); then the loop's case: the best model's
    // components are cached (same array), the candidate's are new (a fresh copy each time).
    const tCold = time(() => {
      z = delongTest(y, pa.slice(), pb.slice(), 0.95).z;
    }, 1);
    delongTest(y, pa, pb, 0.95);
    const tD = time(() => delongTest(y, pa, pb.slice(), 0.95), 3);
    const tZ = time(() => pairedZTest('log_loss', a, b, 0.95), 3);
    let pBoot = Number.NaN;
    const tB =
      n <= bootstrapMax
        ? time(() => {
            pBoot = pairedBootstrap('auroc', a, b, {
              resamples: 1000,
              confidence: 0.95,
              seed: 1,
            }).probImprovement;
          }, 1)
        : Number.NaN;
    console.log(
      `| ${n.toLocaleString('en')} | ${tCold.toFixed(1)} | ${tD.toFixed(1)} | ${tZ.toFixed(1)} | ${Number.isNaN(tB) ? '—' : tB.toFixed(0)} | ${z.toFixed(2)} | ${Number.isNaN(pBoot) ? '—' : pBoot.toFixed(3)} |`,
    );
  }
}
