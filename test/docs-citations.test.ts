import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The repository stands on its own: code and docs cite `docs/ARCHITECTURE.md` and `docs/glossary.md` by section
 * heading, every cited heading exists, and nothing cites a design file outside the repository.
 */
const ROOT = join(import.meta.dirname, '..');
const DOCS = ['docs/ARCHITECTURE.md', 'docs/glossary.md'] as const;

function headings(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return new Set([...text.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!.trim()));
}

function trackedTextFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return out.split('\0').filter((f) => f && /\.(ts|js|py|md|sh|yaml|yml|json|toml)$/.test(f));
}

describe('docs citations', () => {
  it('every cited section of docs/ARCHITECTURE.md and docs/glossary.md exists', () => {
    const known = Object.fromEntries(DOCS.map((d) => [d, headings(d)]));
    const missing: string[] = [];
    let cited = 0;
    for (const f of trackedTextFiles()) {
      const text = readFileSync(join(ROOT, f), 'utf8');
      for (const m of text.matchAll(
        /(docs\/(?:ARCHITECTURE|glossary)\.md)[,:]?\s*\(?((?:"[^"\n]+"(?:,?\s*and\s*)?)+)/g,
      )) {
        for (const s of m[2]!.matchAll(/"([^"]+)"/g)) {
          cited++;
          if (!known[m[1]!]!.has(s[1]!)) missing.push(`${f}: ${m[1]} "${s[1]}"`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(cited).toBeGreaterThan(15);
  });

  it('nothing cites a design file outside the repository', () => {
    const bad = trackedTextFiles().filter((f) => {
      const text = readFileSync(join(ROOT, f), 'utf8');
      return /DESIGN\.md|\.\.\/shared\//.test(text);
    });
    expect(bad).toEqual([]);
  });
});
