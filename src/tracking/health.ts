import type { JournalReader } from '../journal/store.js';

/**
 * Whether the MLflow tracking server answered the last time Ratchet tried, read from the journal: the tracker
 * records an `mlflow.error` event with `data.reachable = false` when the server stops answering and an
 * `mlflow.recovered` event (`data.reachable = true`) when it answers again. The Studio's banner and a new
 * tracker's starting state both come from here, whichever process (run, sync, submit, review) saw it last.
 */

/** Event kind written when MLflow answers again after an outage. */
export const RECOVERED_EVENT = 'mlflow.recovered';
/** Event kind of MLflow failures (an outage has `data.reachable = false`). */
export const ERROR_EVENT = 'mlflow.error';

/** The last known reachability of the tracking server. */
export interface MlflowHealth {
  /** False while the last transition recorded was an outage. */
  reachable: boolean;
  /** The server the transition was about. */
  uri: string | null;
  /** ISO time of the transition. */
  since: string;
  /** The failure (for an outage) or the recovery message. */
  message: string;
}

/**
 * The last reachability transition in the journal, or null when MLflow never failed (or is not used).
 */
export function mlflowHealth(journal: JournalReader): MlflowHealth | null {
  const ev = journal.latestEvent([ERROR_EVENT, RECOVERED_EVENT], { dataKey: 'reachable' });
  if (!ev) return null;
  const data = ev.data ?? {};
  return {
    reachable: data['reachable'] === true,
    uri: typeof data['uri'] === 'string' ? data['uri'] : null,
    since: ev.ts,
    message: ev.message,
  };
}
