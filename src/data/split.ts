import { cyrb53 } from './hash.js';

/** Split codes stored per row. */
export const TRAIN = 0;
export const PUBLIC = 1;
export const PRIVATE = 2;

/** Names of the split codes, indexed by code. */
export const SPLIT_NAMES = ['train', 'public', 'private'] as const;

/** Inputs of {@link assignSplits}: one entry per row, all arrays the same length. */
export interface SplitInput {
  strategy: 'random' | 'stratified' | 'temporal' | 'group';
  seed: number;
  fractions: { train: number; public: number; private: number };
  /** Row ids as text (unique). */
  ids: readonly string[];
  /** Class labels as text: required by `stratified`. */
  labels?: readonly string[];
  /** Sortable time values (numbers: epoch or plain numbers): required by `temporal`. */
  times?: Float64Array;
  /** Group values as text: required by `group`. */
  groups?: readonly string[];
}

/**
 * Assign every row to train, public holdout or private holdout, deterministically from the seed.
 *
 * - random: rows ordered by cyrb53(id, seed); the first round(n·public) go public, the next round(n·private) private.
 * - stratified: the same within each class, so each split keeps the class balance (to ±1 row per class).
 * - temporal: rows ordered by time (ties by hash); the latest round(n·private) go private, the ones before
 *   them public, the earliest train, so no holdout row is earlier than a train row.
 * - group: groups ordered by cyrb53(group, seed) and taken whole, public first, until each holdout reaches its
 *   row fraction; a group never spans two splits.
 * @returns Uint8Array of split codes (0 train, 1 public, 2 private), aligned with `ids`
 * @throws Error when an array the strategy needs is missing or misaligned
 */
export function assignSplits(input: SplitInput): Uint8Array {
  const n = input.ids.length;
  const out = new Uint8Array(n);
  const { seed, fractions } = input;
  const hashes = new Float64Array(n);
  for (let i = 0; i < n; i++) hashes[i] = cyrb53(input.ids[i]!, seed);
  const byHash = (a: number, b: number) => hashes[a]! - hashes[b]! || a - b;

  const fill = (order: number[], total: number) => {
    const nPublic = Math.round(total * fractions.public);
    const nPrivate = Math.round(total * fractions.private);
    for (let j = 0; j < order.length; j++) {
      out[order[j]!] = j < nPublic ? PUBLIC : j < nPublic + nPrivate ? PRIVATE : TRAIN;
    }
  };
  const need = <T>(arr: T | undefined, what: string): T => {
    if (arr === undefined || (arr as { length: number }).length !== n) {
      throw new Error(`the ${input.strategy} split needs ${what} for every row`);
    }
    return arr;
  };

  switch (input.strategy) {
    case 'random': {
      const order = Array.from({ length: n }, (_, i) => i).sort(byHash);
      fill(order, n);
      break;
    }
    case 'stratified': {
      const labels = need(input.labels, 'a class label');
      const byClass = new Map<string, number[]>();
      for (let i = 0; i < n; i++) {
        const list = byClass.get(labels[i]!);
        if (list) list.push(i);
        else byClass.set(labels[i]!, [i]);
      }
      for (const rows of byClass.values()) fill(rows.sort(byHash), rows.length);
      break;
    }
    case 'temporal': {
      const times = need(input.times, 'a time value');
      const order = Array.from({ length: n }, (_, i) => i).sort(
        (a, b) => times[a]! - times[b]! || byHash(a, b),
      );
      const nPrivate = Math.round(n * fractions.private);
      const nPublic = Math.round(n * fractions.public);
      for (let j = 0; j < n; j++) {
        out[order[j]!] = j >= n - nPrivate ? PRIVATE : j >= n - nPrivate - nPublic ? PUBLIC : TRAIN;
      }
      break;
    }
    case 'group': {
      const groups = need(input.groups, 'a group value');
      const members = new Map<string, number[]>();
      for (let i = 0; i < n; i++) {
        const list = members.get(groups[i]!);
        if (list) list.push(i);
        else members.set(groups[i]!, [i]);
      }
      const keys = [...members.keys()];
      const gh = new Map(keys.map((k) => [k, cyrb53(k, seed)]));
      keys.sort((a, b) => gh.get(a)! - gh.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
      const targetPublic = n * fractions.public;
      const targetPrivate = n * fractions.private;
      let inPublic = 0;
      let inPrivate = 0;
      for (const k of keys) {
        const rows = members.get(k)!;
        let code = TRAIN;
        if (inPublic + rows.length / 2 <= targetPublic) {
          code = PUBLIC;
          inPublic += rows.length;
        } else if (inPrivate + rows.length / 2 <= targetPrivate) {
          code = PRIVATE;
          inPrivate += rows.length;
        }
        for (const r of rows) out[r] = code;
      }
      break;
    }
  }
  return out;
}
