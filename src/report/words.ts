/** Words shared by the CLI, the report and the Studio: one wording for the gap, the kept count and reasons. */

/**
 * The public–private gap in words, in the metric's direction. `gap` is public − private in the metric's
 * direction (as stored by `ratchet submit`): positive means the private score is worse than the public one.
 * @returns e.g. "private worse by 0.0721" | "private better by 0.0721" | "private equal to public"
 */
export function gapText(gap: number | null | undefined, digits = 4): string {
  if (gap === null || gap === undefined || !Number.isFinite(gap)) return 'gap —';
  if (Number(Math.abs(gap).toFixed(digits)) === 0) return 'private equal to public';
  return `private ${gap > 0 ? 'worse' : 'better'} by ${Math.abs(gap).toFixed(digits)}`;
}

/**
 * The count of kept changes, labelled so the baseline is never mistaken for one:
 * "2 kept changes (+ baseline)", "1 kept change (+ baseline)", "0 kept changes (no baseline)".
 * @param changes kept experiments after the baseline
 * @param baseline whether the run has a kept (scored) baseline
 */
export function keptText(changes: number, baseline: boolean): string {
  return `${changes} kept change${changes === 1 ? '' : 's'} (${baseline ? '+ baseline' : 'no baseline'})`;
}

/**
 * A reason without a leading repeat of the status it follows ("stopped: stopped: received SIGTERM" →
 * "stopped: received SIGTERM").
 */
export function reasonAfter(status: string, reason: string): string {
  const prefix = `${status}: `;
  return reason.startsWith(prefix) ? reason.slice(prefix.length) : reason;
}
