/**
 * Inherited descriptors: a process that calls runSandboxed holds a descriptor without close-on-exec (here: the
 * vault file, open for reading). Neither the sandboxed command nor an unsafe run may see it.
 * Node opens everything close-on-exec, so the holder is a child Node process that inherits fd 40 from the test;
 * it loads the sandbox from a plain-JS transpile of src/sandbox.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture, REPO } from './helpers.js';

let fx: Fixture;
const FD = 40;

beforeAll(async () => {
  fx = await makeFixture();
  // the sandbox and what it imports (src/util), transpiled as they are now
  for (const part of ['sandbox', 'util']) {
    const srcDir = join(REPO, 'src', part);
    const outDir = join(fx.root, 'js', part);
    mkdirSync(outDir, { recursive: true });
    for (const name of readdirSync(srcDir).filter((n) => n.endsWith('.ts'))) {
      const out = ts.transpileModule(readFileSync(join(srcDir, name), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      });
      writeFileSync(join(outDir, name.replace(/\.ts$/, '.js')), out.outputText);
    }
  }
  writeFileSync(
    join(fx.root, 'js', 'holder.mjs'),
    `import { readFileSync } from 'node:fs';
import { runSandboxed } from './sandbox/index.js';
const spec = JSON.parse(process.argv[2]);
const flags = readFileSync('/proc/self/fdinfo/${FD}', 'utf8').match(/flags:\\s*(\\d+)/)[1];
const result = await runSandboxed(spec);
process.stdout.write(JSON.stringify({ flags, result }));
`,
  );
});
afterAll(() => fx.cleanup());

const FD_PY = `import json, os
fds = sorted(int(n) for n in os.listdir('/proc/self/fd'))
seen = {}
for fd in range(3, 256):
    try:
        seen[fd] = os.read(fd, 200).decode(errors='replace')
    except OSError:
        pass
json.dump({'fds': fds, 'readable': seen}, open(os.environ.get('OUT', '/output') + '/result.json', 'w'))
`;

async function runInHolder(unsafe: boolean) {
  writeFileSync(join(fx.worktree, 'fds.py'), FD_PY);
  const fullSpec = fx.spec(['python', 'fds.py'], {
    unsafeNoSandbox: unsafe,
    env: unsafe ? { OUT: fx.outputDir } : {},
  });
  const vaultFd = openSync(fx.vaultFile, 'r');
  try {
    const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe'];
    while (stdio.length < FD) stdio.push('ignore');
    stdio.push(vaultFd);
    const child = spawn(process.execPath, [join(fx.root, 'js', 'holder.mjs'), JSON.stringify(fullSpec)], {
      stdio,
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => {
      out += c;
    });
    child.stderr!.on('data', (c) => {
      err += c;
    });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code, err).toBe(0);
    return JSON.parse(out) as { flags: string; result: { status: string } };
  } finally {
    closeSync(vaultFd);
  }
}

describe('inherited file descriptors', () => {
  for (const unsafe of [false, true]) {
    it(`are closed before the command starts (${unsafe ? 'unsafe mode' : 'sandbox'})`, async () => {
      const { flags, result } = await runInHolder(unsafe);
      // The holder really had the vault open at fd 40 without O_CLOEXEC (02000000 octal).
      expect(Number.parseInt(flags, 8) & 0o2000000).toBe(0);
      expect(result.status).toBe('ok');
      const seen = JSON.parse(readFileSync(join(fx.outputDir, 'result.json'), 'utf8'));
      // 0, 1, 2, and the descriptor os.listdir itself had open while listing.
      expect(seen.fds.slice(0, 3)).toEqual([0, 1, 2]);
      expect(seen.fds.length).toBeLessThanOrEqual(4);
      expect(seen.fds).not.toContain(FD);
      expect(seen.readable).toEqual({});
      expect(JSON.stringify(seen)).not.toContain(fx.secret);
    });
  }
});
