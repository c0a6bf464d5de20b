/**
 * The guardrail registry (docs/ARCHITECTURE.md, "Guardrails"): every check Ratchet makes has an id, a message with a
 * hint, a severity and whether a person may override it. Every trip becomes a journal event.
 */

/** Severity of a trip: `block` rejects the experiment (or stops the run); `warn` is recorded only. */
export type Severity = 'block' | 'warn';

/** A guardrail's static description. */
export interface Guardrail {
  id: string;
  /** What the guardrail protects, in one line. */
  title: string;
  /** What to do when it trips. */
  hint: string;
  severity: Severity;
  /** May a person override it with `--override <id>` and a reason? Never for integrity guardrails. */
  overridable: boolean;
}

const G = (id: string, title: string, hint: string, severity: Severity, overridable: boolean): Guardrail => ({
  id,
  title,
  hint,
  severity,
  overridable,
});

/** All guardrails, by id. */
export const GUARDRAILS: Record<string, Guardrail> = Object.fromEntries(
  [
    G(
      'contract-integrity',
      'the contract and its frozen files match the lock',
      'restore the file (git checkout -- <file>) or re-lock with ratchet init --force',
      'block',
      false,
    ),
    G(
      'write-surface',
      'a change only touches files in the surface',
      'edit only the files listed under surface in ratchet.yaml',
      'block',
      false,
    ),
    G(
      'vault-isolation',
      'hidden labels are never reachable from the sandbox or a proposer',
      'keep the data source out of git (git rm --cached <file>; add it to .gitignore)',
      'block',
      false,
    ),
    G(
      'target-leakage',
      'no feature gives the target away',
      'drop the leaking column from the data or the features',
      'block',
      false,
    ),
    G(
      'temporal-ordering',
      'no train row is later than a holdout row',
      'use the temporal split, or fix the time column',
      'block',
      false,
    ),
    G(
      'snapshot-integrity',
      'the tree that ran is the tree CHECK approved',
      'nothing may edit the worktree between CHECK and EXECUTE (formatters, hooks, editors)',
      'block',
      false,
    ),
    G(
      'tree-integrity',
      'host code never meets a nested git repository, a link, a FIFO, a device or a control character in the worktree',
      'do not create .git folders or files, symbolic links or special files in the project; use plain files',
      'block',
      false,
    ),
    G(
      'group-overlap',
      'no group (e.g. a person) is in both train and a holdout',
      'use the group split on the group column',
      'block',
      false,
    ),
    G(
      'duplicate-rows',
      'holdout rows are not copies of train rows',
      'deduplicate the data before ratchet init',
      'warn',
      true,
    ),
    G(
      'id-like',
      'no feature is a row identifier',
      'drop the column from the features (params drop_columns)',
      'warn',
      true,
    ),
    G(
      'sanity',
      'predictions look like a model made them (not constant, not the row order)',
      'check that the script trains and predicts; override with a reason if a constant is intended',
      'block',
      true,
    ),
    G(
      'suspicious-score',
      'a score change that noise and history can explain',
      'look for a leak in the change; override with a reason once understood',
      'block',
      true,
    ),
    G(
      'ope-trust',
      'an off-policy estimate is trusted only within the contract’s thresholds (ess, largest weight, support, estimator spread)',
      'the candidate policy moves too far from the logging policy for its estimate to decide: stay closer to it (smoother probabilities, some mass on every logged action) or log more data',
      'block',
      false,
    ),
    G(
      'alignment',
      'with alignment.required, a run starts only when offline gains have predicted the imported A/B tests’ online wins',
      'import more A/B tests (ratchet ab import), read `ratchet align`, change the metric (a new contract version), or set alignment.required: false',
      'block',
      false,
    ),
    G(
      'model-bypass',
      'a harness answers its tasks through the model, each request naming its task (X-Ratchet-Task)',
      'send every task through the model with the header X-Ratchet-Task: <task id>; do not compute answers around it',
      'block',
      false,
    ),
    G(
      'constraint',
      "the contract's floors, ceilings and fairness gates hold",
      'the change breaks a constraint in ratchet.yaml: it is rejected whatever its score',
      'block',
      false,
    ),
    G(
      'no-op',
      'a change changes something',
      'propose a change that edits a file in the surface',
      'block',
      true,
    ),
    G(
      'hypothesis-required',
      'every experiment states a hypothesis',
      'say what the change is and why it should help',
      'block',
      true,
    ),
    G(
      'conclusion-required',
      'every experiment that ran is concluded before the next one starts',
      'say what the last experiment taught (log_conclusion, or the conclusion in your answer)',
      'block',
      true,
    ),
    G(
      'do-not-retry',
      'the same change is never run twice',
      'read the earlier result it was refused with and try something else',
      'block',
      true,
    ),
    G(
      'query-limits',
      'an agent’s trace query (SQL over the journal, grep over the traces) cannot stall the harness',
      'simplify the query: add WHERE/LIMIT, select less, narrow the pattern (RE2 syntax: no backreferences or lookaround)',
      'block',
      false,
    ),
    G(
      'phase-gate',
      'the contract’s phases run in order (e.g. explore model families before tuning)',
      'give the phase’s key a value not run yet (see agent.discipline.phases in ratchet.yaml)',
      'block',
      true,
    ),
    G(
      'rate-limit',
      'an outside agent starts experiments no faster than the contract allows',
      'wait until the window frees a slot (agent.discipline.rate_limit)',
      'block',
      true,
    ),
    G(
      'budget',
      'experiments, wall clock, tokens and cost stay within the contract’s budgets',
      'the run is over its budget: stop, or start a new run (a person may raise the budgets in ratchet.yaml)',
      'block',
      false,
    ),
    G(
      'canary',
      'predictions never come from the decoy holdout labels planted in the sandbox',
      'the code read a decoy label file (/data/.vault) and predicted its labels: a cheating attempt; a person must review the change and the proposer',
      'block',
      false,
    ),
    G(
      'escalated',
      'a project escalated to a person runs nothing more (no agent, no run, no submit) until a person clears it',
      'a person reviews the escalation (ratchet status, the Studio) and clears it: ratchet clear --note "<why>"',
      'block',
      false,
    ),
    G(
      'sandbox-unsafe',
      'experiments run inside the sandbox',
      'install bubblewrap (apt-get install bubblewrap) and drop --unsafe-no-sandbox',
      'warn',
      false,
    ),
  ].map((g) => [g.id, g]),
);

/**
 * Look up a guardrail.
 * @throws Error for an unknown id (a programming error)
 */
export function guardrail(id: string): Guardrail {
  const g = GUARDRAILS[id];
  if (!g) throw new Error(`unknown guardrail ${id}`);
  return g;
}

/** A guardrail that tripped, with the specifics. */
export interface Trip {
  guardrail: string;
  message: string;
  data?: Record<string, unknown>;
}
