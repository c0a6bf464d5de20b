/**
 * How an experiment's OpenMP threads wait (LightGBM, HistGradientBoosting and BLAS use OpenMP): the person's choice
 * when the environment Ratchet runs in sets one, otherwise the OpenMP runtime's own default (docs/ARCHITECTURE.md,
 * "Parallel directions", threads).
 *
 * Why Ratchet sets none by default. libgomp's default lets a waiting thread spin for a while before it sleeps. With
 * `OMP_WAIT_POLICY=PASSIVE` (or `GOMP_SPINCOUNT` below about 3000) it sleeps at once, and on an otherwise idle
 * machine every wake-up then costs far more than the work between two barriers. Measured on this project's 2-core
 * machine (LightGBM 300 rounds × 10 classes and HistGradientBoosting 200 iterations on 1,079 rows of `digits`,
 * 2 threads): idle, 0.9 s and 1.6 s with the default against 12.7 s and 14.2 s with PASSIVE. Under load (four
 * other busy processes) the default is the slower one (6–7 s and 21–25 s against 3–4 s and 9–12 s). Ratchet
 * itself never oversubscribes the cores (each of N experiments at once gets ⌊cores / N⌋ threads), so the load
 * that would call for PASSIVE comes from outside; whoever shares the machine with other jobs sets
 * `OMP_WAIT_POLICY=PASSIVE` where they run `ratchet`, and every experiment gets it.
 */

/** The OpenMP variables passed from Ratchet's environment to each experiment when set there. */
export const OPENMP_WAIT_VARIABLES = ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT'] as const;

/**
 * The OpenMP wait settings an experiment's environment gets: each of {@link OPENMP_WAIT_VARIABLES} that `host` sets
 * to a non-empty value without a NUL byte, as it is; nothing otherwise (the OpenMP runtime's default).
 * @param host the environment Ratchet runs in (default `process.env`)
 * @returns variables to add to the experiment's environment, e.g. `{ OMP_WAIT_POLICY: 'PASSIVE' }` or `{}`
 */
export function openmpWaitEnv(host: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of OPENMP_WAIT_VARIABLES) {
    const value = host[name];
    if (value !== undefined && value !== '' && !value.includes('\0')) env[name] = value;
  }
  return env;
}
