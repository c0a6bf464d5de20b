import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { DATA_DIR, VAULT_DIR } from '../data/ingest.js';
import { parseDuration } from '../util/units.js';

/** Result of a custom evaluator run. */
export type CustomResult = { ok: true; metrics: Record<string, number> } | { ok: false; reason: string };

/**
 * Run the contract's custom evaluator on one experiment's output folder, OUTSIDE the sandbox (it is the
 * contract's own, locked code; it may read the vault). It runs in the project root with RATCHET_OUTPUT (the
 * experiment's output folder), RATCHET_HOLDOUT (public | private), RATCHET_VAULT and RATCHET_DATA set, and
 * must print a JSON object of finite numbers as the last line of its stdout. Nothing the sandboxed code
 * printed is ever read: only this command's output counts.
 * @param binDir folder put first on PATH (the project's Python), or null
 */
export function runCustomEvaluator(
  contract: Contract,
  outputDir: string,
  holdout: 'public' | 'private',
  binDir: string | null,
): Promise<CustomResult> {
  const ev = contract.evaluator!;
  const timeoutMs = parseDuration(ev.timeout);
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', ev.command], {
      cwd: contract.projectDir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PATH: `${binDir ? `${binDir}:` : ''}${process.env['PATH'] ?? '/usr/bin:/bin'}`,
        RATCHET_OUTPUT: outputDir,
        RATCHET_HOLDOUT: holdout,
        RATCHET_VAULT: join(contract.projectDir, VAULT_DIR),
        RATCHET_DATA: join(contract.projectDir, DATA_DIR),
      },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      if (out.length < 1 << 20) out += d;
    });
    child.stderr.on('data', (d) => {
      if (err.length < 1 << 16) err += d;
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const tail = err.trim().split('\n').slice(-3).join(' | ');
      if (code !== 0) {
        resolve({
          ok: false,
          reason: `the custom evaluator ${signal ? `was killed (${signal})` : `exited with code ${code}`}${tail ? `: ${tail}` : ''}`,
        });
        return;
      }
      const last = out.trim().split('\n').pop() ?? '';
      let parsed: unknown;
      try {
        parsed = JSON.parse(last);
      } catch {
        resolve({
          ok: false,
          reason: `the custom evaluator's last stdout line is not JSON: ${JSON.stringify(last.slice(0, 200))}`,
        });
        return;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        resolve({ ok: false, reason: 'the custom evaluator must print a JSON object of metrics' });
        return;
      }
      const metrics: Record<string, number> = {};
      for (const [k, v] of Object.entries(parsed)) {
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          resolve({
            ok: false,
            reason: `the custom evaluator's metric ${k} is not a finite number (${JSON.stringify(v)})`,
          });
          return;
        }
        metrics[k] = v;
      }
      if (!(contract.metric.primary in metrics)) {
        resolve({
          ok: false,
          reason: `the custom evaluator did not report the primary metric ${contract.metric.primary}`,
        });
        return;
      }
      resolve({ ok: true, metrics });
    });
  });
}
