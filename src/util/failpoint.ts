/**
 * Failpoints for crash tests: when the environment variable RATCHET_FAILPOINT names this point, the
 * process kills itself with SIGKILL right here, as a power cut or `kill -9` would. No effect otherwise.
 * Points: `record:after-commit` (a kept commit exists, the journal does not know it yet),
 * `record:after-journal` (the journal has the experiment, results.tsv does not).
 */
export function failpoint(name: string): void {
  if (process.env['RATCHET_FAILPOINT'] === name) process.kill(process.pid, 'SIGKILL');
}
