/**
 * The `hybrid` proposer: an LLM proposer that also sees the search proposer's TPE suggestion at every PROPOSE
 * and may take it (published results: classical tuners beat LLMs on fixed hyperparameter spaces, and a hybrid
 * beats both). Each PROPOSE asks TPE for a trial, shows the params file it would write to the LLM (then puts
 * the file back), and lets the LLM decide. When the LLM's params file is the suggestion, TPE is told the score
 * of its trial; otherwise the trial is marked failed (TPE's model ignores failed trials) and the experiment is
 * the LLM's own.
 */
import { git } from '../../git/git.js';
import { readFileNoFollow } from '../../util/fs.js';
import type { CommandProposer } from '../command/index.js';
import type { OpenAIProposer } from '../openai/index.js';
import type { SearchProposer } from '../search/proposer.js';
import type { Outcome, Proposal, ProposeContext, Proposer } from '../types.js';

/** How to build a {@link HybridProposer}. */
export interface HybridProposerOptions {
  /** The TPE side (built like `--proposer search`). */
  search: SearchProposer;
  /** The LLM side: an openai or command proposer (its `suggestion` is set before each PROPOSE). */
  llm: OpenAIProposer | CommandProposer;
  worktree: string;
  /** The params file TPE writes (the contract's `search.params_file`). */
  paramsFile: string;
}

/** The `hybrid` proposer. Build it with {@link createHybridProposer}. */
export class HybridProposer implements Proposer {
  readonly name = 'hybrid';
  private readonly o: HybridProposerOptions;
  /** Whether the last proposal took TPE's suggestion (its trial is then told the score at OBSERVE). */
  private taken = false;
  /** Suggestions offered and taken in this run. */
  readonly stats = { offered: 0, taken: 0 };

  constructor(o: HybridProposerOptions) {
    this.o = o;
  }

  /**
   * Ask TPE for a trial, offer it to the LLM, and let the LLM propose.
   * @throws whatever the LLM or TPE side throws (the TPE trial is then marked failed)
   */
  async propose(ctx: ProposeContext): Promise<Proposal> {
    const { search, llm, worktree, paramsFile } = this.o;
    // Read without following links or opening FIFOs (the LLM side may have planted one).
    const readParams = () => readFileNoFollow(worktree, paramsFile);
    const tpe = await search.propose(ctx);
    const content = readParams() ?? '';
    // Put the file back: the LLM starts from the kept code and decides.
    await git(worktree, ['checkout', '-q', 'HEAD', '--', paramsFile]).catch(() => undefined);
    this.stats.offered++;
    llm.suggestion = { source: 'TPE (Optuna)', summary: tpe.hypothesis, file: paramsFile, content };
    let p: Proposal;
    try {
      p = await llm.propose(ctx);
    } catch (e) {
      await search
        .observe({ seq: ctx.seq, decision: 'rejected', score: null, meta: tpe.meta ?? {} })
        .catch(() => undefined);
      throw e;
    } finally {
      llm.suggestion = null;
    }
    this.taken = readParams() === content;
    const llmMeta = p.meta ?? {};
    if (this.taken) {
      this.stats.taken++;
      return {
        hypothesis: p.hypothesis,
        params: tpe.params ?? p.params ?? {},
        meta: { ...llmMeta, ...(tpe.meta ?? {}), hybrid: { taken: true, tpe: tpe.hypothesis } },
      };
    }
    // Not taken: TPE's trial never runs; a failed trial is ignored by TPE's model.
    await search.observe({ seq: ctx.seq, decision: 'rejected', score: null, meta: tpe.meta ?? {} });
    return {
      hypothesis: p.hypothesis,
      ...(p.params ? { params: p.params } : {}),
      meta: { ...llmMeta, hybrid: { taken: false, tpe: tpe.hypothesis, trial: tpe.meta?.['trial'] ?? null } },
    };
  }

  /** Tell TPE the score when its suggestion ran; tell the LLM side in any case. */
  async observe(outcome: Outcome): Promise<void> {
    if (this.taken) await this.o.search.observe(outcome);
    await this.o.llm.observe(outcome);
  }

  /** The LLM concludes. */
  async conclude(outcome: Outcome & { hypothesis: string; reason: string }): Promise<string | null> {
    return this.o.llm.conclude(outcome);
  }

  /** Open the search side's study (see {@link Proposer.open}). */
  async open(): Promise<void> {
    await this.o.search.open?.();
  }

  /** Close both sides. Safe to call twice. */
  async close(): Promise<void> {
    await Promise.allSettled([this.o.search.close(), this.o.llm.close()]);
  }
}

/** Build the `hybrid` proposer from a search proposer and an LLM proposer. */
export function createHybridProposer(o: HybridProposerOptions): HybridProposer {
  return new HybridProposer(o);
}
