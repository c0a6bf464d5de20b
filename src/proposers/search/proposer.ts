/**
 * Ratchet's built-in `search` proposer: Optuna TPE over the contract's search space.
 *
 * Each PROPOSE asks TPE for a trial, writes the trial's params into the params file of the worktree
 * (keys of the baseline params that the space does not search are carried over), and answers with a
 * sentence comparing the trial to the best params so far. Each OBSERVE tells TPE the public score
 * (no score ⇒ the trial failed). The study lives in a SQLite file under `statePath`, so a resumed run
 * continues the same study. With the search space's `ensemble` section, some proposals are ensembles instead of
 * trials (./ensemble.ts): the best kept model(s) plus the best trial of another family, averaged.
 */
import { mkdirSync } from 'node:fs';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { Document, parse } from 'yaml';
import { readFileNoFollow, writeFileNoFollow } from '../../util/fs.js';
import type { Direction, Outcome, Proposal, ProposeContext, Proposer } from '../types.js';
import {
  canonicalJson,
  describeEnsemble,
  ENSEMBLE_MODEL,
  type EnsembleChoice,
  membersOf,
  nextEnsemble,
  searchedPart,
  sharedPart,
} from './ensemble.js';
import { describeTrial } from './hypothesis.js';
import { type AskedTrial, type GroupBest, OptunaSession } from './optuna.js';
import {
  type ChoiceValue,
  choiceKey,
  type EnsembleSpec,
  loadSearchSpace,
  type ParamSpace,
  type SearchSpace,
} from './space.js';

/** How to build the search proposer. */
export interface SearchProposerOptions {
  /** Python interpreter with optuna installed. */
  python: string;
  /** Project root (holds ratchet.yaml). */
  projectDir: string;
  /** Folder for the study database (created if needed). */
  statePath: string;
  /** Optuna study name; one study per run or direction. */
  studyName: string;
  /** The search space YAML, absolute or relative to projectDir. */
  spacePath: string;
  /** The params file the trials are written to, relative to the worktree. */
  paramsFile: string;
  /** Direction of the primary metric. */
  direction: Direction;
  /** Seed of the TPE sampler. */
  seed: number;
  /**
   * Params of the baseline. Enqueued as the study's first trial so TPE learns from the baseline's score,
   * and the base the trials' params are merged onto. Defaults to the params file found in the worktree
   * at the first proposal.
   */
  baselineParams?: Record<string, unknown>;
  /**
   * This proposer's place among the directions sharing the study (0-based; docs/ARCHITECTURE.md, "Parallel
   * directions"): worker 0 enqueues the baseline; every worker runs TPE with the constant liar when `constantLiar`.
   */
  worker?: number;
  constantLiar?: boolean;
  /** Path of optuna_helper.py (defaults to Ratchet's own). */
  helperPath?: string;
  /** Longest wait for one helper reply, in milliseconds. */
  requestTimeoutMs?: number;
  /**
   * The contract's experiment timeout, in milliseconds: an ensemble expected to run longer than
   * {@link ENSEMBLE_TIME_SHARE} of it (or of the PROPOSE context's `timeoutMs`, the run's wall clock left, when
   * given) is not proposed. Absent (and no `timeoutMs`): no limit.
   */
  experimentTimeoutMs?: number;
  /**
   * The contract's primary metric: an ensemble with `weights: oof` has its weights fitted on it (`fit_weights.metric`).
   * Absent (e.g. a composite score): the training script's default loss.
   */
  metric?: string;
}

/** Share of the experiment timeout an ensemble's members may be expected to take together (they fit one by one). */
export const ENSEMBLE_TIME_SHARE = 0.8;

/** Largest params file read as the incumbent of an ensemble (1 MiB; the scaffold's is under 1 KiB). */
export const MAX_PARAMS_BYTES = 1 << 20;

/** SQLite file holding a study's trials under the proposer's state folder. */
export function studyStoragePath(statePath: string, studyName: string): string {
  return join(statePath, `${studyName.replace(/[^A-Za-z0-9_.-]/g, '_')}.optuna.db`);
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/**
 * Merge a trial's params onto the base params: searched keys take the trial's values, sections of
 * conditional choices that were not chosen are removed, every other key of the base is kept. The
 * chosen section is placed right after the parameter that chose it.
 */
export function mergeTrialParams(
  base: Record<string, unknown> | undefined,
  trial: Record<string, unknown>,
  space: ParamSpace,
): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base ?? {});
  const sectionOf = new Map<string, string>(); // parameter -> chosen section key
  for (const [name, spec] of Object.entries(space)) {
    if (!(name in trial)) continue;
    out[name] = trial[name];
    if (spec.type !== 'categorical' || !spec.conditional) continue;
    const chosen = choiceKey(trial[name] as ChoiceValue);
    for (const key of Object.keys(spec.conditional)) {
      if (key !== chosen) delete out[key];
    }
    const sub = spec.conditional[chosen];
    if (sub) {
      out[chosen] = mergeTrialParams(asRecord(out[chosen]), asRecord(trial[chosen]) ?? {}, sub);
      sectionOf.set(name, chosen);
    }
  }
  const sections = new Set(sectionOf.values());
  const ordered: Record<string, unknown> = {};
  for (const key of Object.keys(out)) {
    if (sections.has(key)) continue;
    ordered[key] = out[key];
    const section = sectionOf.get(key);
    if (section !== undefined) ordered[section] = out[section];
  }
  return ordered;
}

/** Whether two params objects agree on every parameter of the space (along the chosen branches). */
export function sameOnSpace(
  a: Record<string, unknown> | undefined,
  b: Record<string, unknown> | undefined,
  space: ParamSpace,
): boolean {
  for (const [name, spec] of Object.entries(space)) {
    const va = a?.[name];
    const vb = b?.[name];
    if (va !== vb) return false;
    if (spec.type === 'categorical' && va !== undefined) {
      const key = choiceKey(va as ChoiceValue);
      const sub = spec.conditional?.[key];
      if (sub && !sameOnSpace(asRecord(a?.[key]), asRecord(b?.[key]), sub)) return false;
    }
  }
  return true;
}

function floatPaths(
  space: ParamSpace,
  params: Record<string, unknown>,
  prefix: (string | number)[] = [],
): (string | number)[][] {
  const paths: (string | number)[][] = [];
  for (const [name, spec] of Object.entries(space)) {
    if (spec.type === 'float') paths.push([...prefix, name]);
    if (spec.type === 'categorical' && name in params) {
      const key = choiceKey(params[name] as ChoiceValue);
      const sub = spec.conditional?.[key];
      const section = asRecord(params[key]);
      if (sub && section) paths.push(...floatPaths(sub, section, [...prefix, key]));
    }
  }
  return paths;
}

/**
 * Render params as YAML that both YAML 1.2 and PyYAML (YAML 1.1) read back identically: strings such as
 * `yes`/`on` are quoted, float parameters of the space keep a decimal point (`1.0`, not `1`, which
 * scikit-learn would read as a count), and exponent numbers carry an explicit `!!float` tag. An ensemble's members
 * (`ensemble.members[i]`) are params of the space too and are written the same way.
 */
export function formatParamsYaml(params: Record<string, unknown>, space: ParamSpace, header: string): string {
  const doc = new Document(params, { version: '1.1' });
  const paths = floatPaths(space, params);
  const members = params.model === ENSEMBLE_MODEL ? asRecord(params[ENSEMBLE_MODEL])?.members : undefined;
  if (Array.isArray(members)) {
    members.forEach((m, i) => {
      const member = asRecord(m);
      if (member) paths.push(...floatPaths(space, member, [ENSEMBLE_MODEL, 'members', i]));
    });
  }
  for (const path of paths) {
    const node = doc.getIn(path, true);
    if (node && typeof node === 'object' && 'value' in node && typeof node.value === 'number') {
      (node as { minFractionDigits?: number }).minFractionDigits = 1;
    }
  }
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as {
      value?: unknown;
      items?: unknown[];
      tag?: string;
      key?: unknown;
      minFractionDigits?: number;
    };
    if (typeof n.value === 'number' && /e/i.test(JSON.stringify(n.value))) {
      n.tag = 'tag:yaml.org,2002:float';
      n.minFractionDigits = undefined;
    }
    if ('key' in n && 'value' in n) {
      visit(n.value);
      return;
    }
    for (const item of n.items ?? []) visit(item);
  };
  visit(doc.contents);
  const lines = header
    .split('\n')
    .map((l) => `# ${l}`.trimEnd())
    .join('\n');
  return `${lines}\n${doc.toString({ lineWidth: 0 })}`;
}

function abortError(): Error {
  const err = new Error("the run is stopping; the search proposer's request was abandoned");
  err.name = 'AbortError';
  return err;
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolvePromise, rejectPromise) => {
    const onAbort = (): void => rejectPromise(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolvePromise(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        rejectPromise(e);
      },
    );
  });
}

/** The `search` proposer. Create it with {@link createSearchProposer}. */
export class SearchProposer implements Proposer {
  /** Recorded on every experiment. */
  readonly name = 'search';
  /** The validated search space. */
  readonly space: SearchSpace;
  private readonly opts: SearchProposerOptions;
  private base: Record<string, unknown> | undefined;
  private sessionPromise: Promise<OptunaSession> | null = null;
  private session: OptunaSession | null = null;
  private pending: number | null = null;
  /** The baseline is enqueued once per study: by worker 0 (the other directions share its study). */
  private baselineHandled: boolean;
  private closed = false;
  /** Finished trials when the proposer last considered an ensemble (−∞: never). */
  private ensembleAt = Number.NEGATIVE_INFINITY;
  /** Member lists of the ensembles this process proposed (canonical JSON). */
  private readonly triedEnsembles = new Set<string>();
  /** Seconds a kept model (or a family's best trial) took as an experiment, by the canonical JSON of its members. */
  private readonly seconds = new Map<string, number>();
  /** What is running: its members' key and when it started. */
  private running: { key: string; started: number } | null = null;
  /**
   * Finished trials as this process knows them: the count the last ask saw, plus its own trials told a score since.
   * Exact with one direction; a lower bound with several (the others' trials count from this worker's next ask).
   * It spares PROPOSE a round trip to the helper (whose count reads every trial of the study).
   */
  private finished = 0;

  constructor(opts: SearchProposerOptions) {
    this.baselineHandled = (opts.worker ?? 0) > 0;
    const rel = normalize(opts.paramsFile);
    if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) {
      throw new Error(
        `search proposer: paramsFile must be a path inside the worktree, not ${opts.paramsFile}`,
      );
    }
    this.opts = { ...opts, paramsFile: rel };
    this.space = loadSearchSpace(resolve(opts.projectDir, opts.spacePath));
    this.base = opts.baselineParams ? this.mergeBase(structuredClone(opts.baselineParams)) : undefined;
  }

  /**
   * What trials are merged onto: the baseline's params, or, when the run starts from a kept ensemble (a resumed run,
   * a new run on its branch), only the ensemble's shared top level: a trial is one model, never an ensemble's leftover.
   */
  private mergeBase(params: Record<string, unknown>): Record<string, unknown> {
    return params.model === ENSEMBLE_MODEL ? sharedPart(params, this.space.space) : params;
  }

  /** The SQLite file of the study. */
  get storagePath(): string {
    return studyStoragePath(this.opts.statePath, this.opts.studyName);
  }

  /** The Optuna session, started on first use. */
  async study(): Promise<OptunaSession> {
    if (this.closed) throw new Error('search proposer is closed');
    if (this.sessionPromise === null) {
      mkdirSync(this.opts.statePath, { recursive: true });
      this.sessionPromise = OptunaSession.start({
        python: this.opts.python,
        storagePath: this.storagePath,
        studyName: this.opts.studyName,
        direction: this.opts.direction,
        seed: this.opts.seed,
        space: this.space,
        worker: this.opts.worker ?? 0,
        constantLiar: this.opts.constantLiar ?? false,
        helperPath: this.opts.helperPath,
        requestTimeoutMs: this.opts.requestTimeoutMs,
      });
      this.sessionPromise.then(
        (s) => {
          this.session = s;
        },
        () => {
          this.sessionPromise = null; // let a later call retry
        },
      );
    }
    return this.sessionPromise;
  }

  /** Open the study now (directions open theirs in order, so worker 0 is first). */
  async open(): Promise<void> {
    await this.study();
  }

  /** Ask TPE for a trial, write it into the worktree's params file, and say what it changes. */
  async propose(ctx: ProposeContext): Promise<Proposal> {
    const session = await raceAbort(this.study(), ctx.signal);
    if (this.base === undefined) this.base = this.mergeBase(this.readParams(ctx.worktree));

    let asked: AskedTrial;
    if (!this.baselineHandled) {
      this.baselineHandled = true;
      asked = await raceAbort(this.startWithBaseline(session, ctx), ctx.signal);
    } else {
      const ensemble = await raceAbort(this.proposeEnsemble(session, ctx), ctx.signal);
      if (ensemble) return ensemble;
      asked = await raceAbort(session.ask(), ctx.signal);
    }
    this.pending = asked.trial;
    this.finished = asked.finished;

    const params = mergeTrialParams(this.base, asked.params, this.space.space);
    this.running = {
      key: canonicalJson([searchedPart(params, this.space.space)]),
      started: performance.now(),
    };
    // Never through a link: a params file made a symlink must not overwrite what it points at.
    writeFileNoFollow(
      ctx.worktree,
      this.opts.paramsFile,
      formatParamsYaml(
        params,
        this.space.space,
        `written by Ratchet's search proposer, trial ${asked.trial} (study ${this.opts.studyName})`,
      ),
    );
    const reference = ctx.bestParams ?? (this.base && Object.keys(this.base).length > 0 ? this.base : null);
    const baseline = asked.enqueued && sameOnSpace(asked.params, this.base, this.space.space);
    const place = asked.enqueued && !baseline ? this.portfolioIndex(asked.params) : null;
    const hypothesis = describeTrial({
      trial: asked.trial,
      params: asked.params,
      reference,
      space: this.space.space,
      baseline,
      enqueued: asked.enqueued,
      ...(place !== null ? { portfolio: { index: place, of: this.space.portfolio?.length ?? 0 } } : {}),
      startup: asked.startup,
      finished: asked.finished,
    });
    return { hypothesis, params, meta: { trial: asked.trial, study: this.opts.studyName } };
  }

  /** Tell TPE the public score of the trial (no score ⇒ the trial failed). */
  async observe(outcome: Outcome): Promise<void> {
    if (this.running) {
      // A kept model can become an ensemble's member: remember how long it ran. Only kept ones, so the map stays as
      // small as the run's keeps (every family's best comes with its seconds from the helper's `top`).
      if (outcome.decision === 'kept' && outcome.score !== null) {
        this.seconds.set(this.running.key, (performance.now() - this.running.started) / 1000);
      }
      this.running = null;
    }
    const meta = outcome.meta;
    if (meta?.ensemble === true) return; // not a TPE trial: TPE never hears an ensemble's score
    const fromMeta =
      meta && meta.study === this.opts.studyName && typeof meta.trial === 'number' ? meta.trial : null;
    const trial = fromMeta ?? this.pending;
    if (trial === null || this.session === null) return;
    if (trial === this.pending) this.pending = null;
    await this.session.tell(trial, outcome.score);
    if (outcome.score !== null && Number.isFinite(outcome.score)) this.finished++;
  }

  /** Stop the helper. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = this.sessionPromise;
    this.sessionPromise = null;
    if (pending === null) return;
    try {
      await (await pending).close();
    } catch {
      // it never started; nothing to stop
    }
  }

  /**
   * An ensemble proposal, when the space has an `ensemble` section, this is direction 1 (worker 0: one direction
   * builds ensembles, so two never propose the same one), `after` trials finished and `every` more since the last
   * time one was considered; null otherwise or when {@link nextEnsemble} finds none. Writes the params file.
   */
  private async proposeEnsemble(session: OptunaSession, ctx: ProposeContext): Promise<Proposal | null> {
    const spec = this.space.ensemble;
    if (!spec || (this.opts.worker ?? 0) > 0) return null;
    const finished = this.finished;
    if (finished < spec.after || finished - this.ensembleAt < spec.every) return null;
    this.ensembleAt = finished;
    // The best kept experiment's params; the baseline (run by `ratchet check`) has none attached, and the worktree
    // holds the incumbent's params file at PROPOSE.
    const incumbent = ctx.bestParams ?? this.incumbentParams(ctx.worktree);
    if (Object.keys(incumbent).length === 0) return null;
    // Each family's best trial as it ran: its params merged onto the base, like every trial (e.g. the baseline's
    // max_iter, which the space does not search, stays in the member).
    const top = (await session.top(spec.by)).map((t) => ({
      ...t,
      params: mergeTrialParams(this.base, t.params, this.space.space),
    }));
    for (const t of top) {
      const key = canonicalJson([searchedPart(t.params, this.space.space)]);
      if (t.seconds !== null && !this.seconds.has(key)) this.seconds.set(key, t.seconds);
    }
    let choice: EnsembleChoice | null;
    try {
      choice = this.chooseEnsemble(spec, incumbent, top, ctx);
    } catch {
      // The incumbent's params and the history are data a proposer may have written (e.g. nested past the stack's
      // depth): what cannot be read is no ensemble, never a failed PROPOSE.
      return null;
    }
    if (!choice) return null;
    this.triedEnsembles.add(choice.key);
    writeFileNoFollow(
      ctx.worktree,
      this.opts.paramsFile,
      formatParamsYaml(
        choice.params,
        this.space.space,
        `written by Ratchet's search proposer: an ensemble of ${choice.members.length} models (study ${this.opts.studyName})`,
      ),
    );
    this.running = { key: choice.key, started: performance.now() };
    return {
      hypothesis: describeEnsemble(choice, spec, this.space.space),
      params: choice.params,
      meta: { ensemble: true, study: this.opts.studyName, added_trials: choice.added.map((t) => t.trial) },
    };
  }

  /** {@link nextEnsemble} over this process's and the history's tried ensembles and the known run times. */
  private chooseEnsemble(
    spec: EnsembleSpec,
    incumbent: Record<string, unknown>,
    top: GroupBest[],
    ctx: ProposeContext,
  ): EnsembleChoice | null {
    // this experiment's own limit (the run's wall clock left, when shorter than the timeout), else the timeout
    const limitMs = ctx.timeoutMs ?? this.opts.experimentTimeoutMs;
    const tried = new Set(this.triedEnsembles);
    for (const past of ctx.history) {
      if (past.params?.model === ENSEMBLE_MODEL)
        tried.add(canonicalJson(membersOf(past.params, this.space.space)));
    }
    return nextEnsemble({
      spec,
      space: this.space.space,
      incumbent,
      top,
      tried,
      seconds: (member) => this.seconds.get(canonicalJson([member])) ?? null,
      maxSeconds: limitMs === undefined ? null : (ENSEMBLE_TIME_SHARE * limitMs) / 1000,
      incumbentScore: ctx.bestScore,
      direction: this.opts.direction,
      metric: this.opts.metric ?? null,
    });
  }

  private readParams(worktree: string): Record<string, unknown> {
    const text = readFileNoFollow(worktree, this.opts.paramsFile);
    if (text === null) return {};
    const doc = parse(text, { version: '1.1' }) as unknown;
    return asRecord(doc) ?? {};
  }

  /**
   * The incumbent's params file in the worktree, read as untrusted data (an agent of the hybrid proposer may have
   * written it and had it kept): not through a link, at most {@link MAX_PARAMS_BYTES}, and {} when it is not a YAML
   * mapping or cannot be parsed.
   */
  private incumbentParams(worktree: string): Record<string, unknown> {
    const text = readFileNoFollow(worktree, this.opts.paramsFile, MAX_PARAMS_BYTES);
    if (text === null) return {};
    try {
      return asRecord(parse(text, { version: '1.1' })) ?? {};
    } catch {
      return {};
    }
  }

  /**
   * First proposal of a fresh study: enqueue the baseline's params so TPE learns from them, then the space's
   * portfolio (configurations tried before TPE's own samples, in order; an entry equal to an earlier one is
   * skipped by Optuna). When the run already measured the baseline (its first experiment, with the same params),
   * tell TPE that score at once instead of running the baseline again. A resumed study has its queue already.
   */
  private async startWithBaseline(session: OptunaSession, ctx: ProposeContext): Promise<AskedTrial> {
    if (session.opened.n_trials > 0) return session.ask();
    const base = this.base ?? {};
    let baselineQueued = false;
    if (Object.keys(base).length > 0) {
      const { enqueued } = await session.enqueue(base);
      baselineQueued = Object.keys(enqueued).length > 0;
    }
    for (const entry of this.space.portfolio ?? []) await session.enqueue(entry);
    const asked = await session.ask();
    if (!baselineQueued) return asked;
    const first = ctx.baseline;
    const measured =
      first !== null &&
      first.score !== null &&
      (first.params === null || sameOnSpace(first.params, base, this.space.space));
    if (!measured || !asked.enqueued || !sameOnSpace(asked.params, base, this.space.space)) return asked;
    await session.tell(asked.trial, first.score);
    return session.ask();
  }

  /** The place (0-based) of the portfolio entry an enqueued trial replays, or null when it is none of them. */
  portfolioIndex(params: Record<string, unknown>): number | null {
    const entries = this.space.portfolio ?? [];
    const i = entries.findIndex((entry) => agreesWith(entry, params));
    return i < 0 ? null : i;
  }
}

/** Whether every value a (possibly partial) params object sets is the same in `params`, sections included. */
function agreesWith(partial: Record<string, unknown>, params: Record<string, unknown>): boolean {
  return Object.entries(partial).every(([key, value]) => {
    const other = params[key];
    const sub = asRecord(value);
    if (sub) return agreesWith(sub, asRecord(other) ?? {});
    return other === value && typeof other === typeof value;
  });
}

/**
 * Build the `search` proposer (Optuna TPE over the contract's search space). The search space is read
 * and validated now; the Optuna helper starts at the first proposal.
 * @throws SearchSpaceError when the search space file is missing or invalid
 */
export function createSearchProposer(opts: SearchProposerOptions): SearchProposer {
  return new SearchProposer(opts);
}
