/**
 * `npm run bench`: every benchmark, figures printed (targets are stated next to them, not asserted).
 *   - harness overhead per experiment at 100k and 3M rows per holdout (target ≤ 0.3 s and ≤ 3 s)
 *   - metric engine vs scikit-learn at 1M and 10M rows (target ≥ 2× faster, identical values)
 *   - the kill switch: ratchet stop to the run's exit (target ≤ 1 s)
 *   - the process-tree watchdog: host CPU per tick for a tree of 20 processes (target ≤ 5 ms)
 * Pass `--quick` for smaller sizes.
 */
import { benchMetrics } from './metrics.js';
import { benchOverhead } from './overhead.js';
import { benchStop } from './stop.js';
import { benchWatchdog } from './watchdog.js';

const quick = process.argv.includes('--quick');
console.log(`# Ratchet benchmarks (${new Date().toISOString()}, node ${process.version})`);
await benchOverhead(quick ? [100_000] : [100_000, 3_000_000]);
await benchMetrics(quick ? { sizes: [1_000_000], bootstrapSizes: [100_000] } : {});
await benchStop(quick ? 1 : 3);
await benchWatchdog();
