import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapArgs } from '../../src/sandbox/index.js';
import { expectNoSecret, type Fixture, makeFixture, runPy } from './helpers.js';

/**
 * `workdirWritable`: the layout a coding agent runs in at PROPOSE. The worktree is writable; everything else
 * keeps the experiment sandbox's guarantees (read-only binds, vault absent, no network, nothing else writable).
 */
let fx: Fixture;
let briefDir: string;
beforeAll(async () => {
  fx = await makeFixture();
  briefDir = join(fx.root, 'brief');
  mkdirSync(briefDir);
  writeFileSync(join(briefDir, 'BRIEF.md'), 'do something useful\n');
  writeFileSync(join(fx.worktree, '.git'), 'gitdir: /nowhere/.git/worktrees/w1\n');
});
afterAll(() => fx.cleanup());

const PROBE = `import json, os, socket
seen = {}
def attempt(name, fn):
    try:
        fn()
        seen[name] = 'ok'
    except Exception as e:
        seen[name] = type(e).__name__ + ': ' + str(e)
def write(path, text='x'):
    with open(path, 'w') as f:
        f.write(text)
attempt('edit_train', lambda: write('/workspace/train.py', 'print("edited by the agent")\\n'))
attempt('new_file', lambda: write('/workspace/notes.txt', 'new'))
attempt('mkdir', lambda: os.makedirs('/workspace/src/pkg', exist_ok=True))
attempt('git_file', lambda: write('/workspace/.git', 'gitdir: /elsewhere\\n'))
attempt('rm_git_file', lambda: os.remove('/workspace/.git'))
attempt('brief', lambda: write('/brief/BRIEF.md', 'changed'))
attempt('data', lambda: write('/data/train.csv', 'changed'))
attempt('root', lambda: write('/evil.txt'))
attempt('usr', lambda: write('/usr/evil.txt'))
attempt('vault_read', lambda: open(os.environ['VAULT_FILE']).read())
attempt('project_read', lambda: open(os.path.join(os.environ['PROJECT_DIR'], 'ratchet.yaml')).read())
def net():
    s = socket.create_connection(('1.1.1.1', 53), timeout=2)
    s.close()
attempt('network', net)
seen['brief_text'] = open('/brief/BRIEF.md').read()
json.dump(seen, open('/output/result.json', 'w'))
`;

describe('runSandboxed with workdirWritable (a coding agent at PROPOSE)', () => {
  it('binds the worktree read-write only when asked', () => {
    const ro = bwrapArgs(fx.spec(['true']));
    const rw = bwrapArgs(fx.spec(['true'], { workdirWritable: true }));
    const at = (a: string[]) => a.findIndex((x, i) => x === fx.worktree && a[i + 1] === '/workspace') - 1;
    expect(ro[at(ro)]).toBe('--ro-bind');
    expect(rw[at(rw)]).toBe('--bind');
  });

  it('the agent edits and creates files in the worktree; nothing else is writable, the vault stays absent', async () => {
    const run = await runPy(fx, PROBE, {
      workdirWritable: true,
      readOnly: [
        { host: fx.dataFile, target: '/data/train.csv' },
        { host: briefDir, target: '/brief' },
        { host: join(fx.worktree, '.git'), target: '/workspace/.git' },
      ],
    });
    expect(run.result.status, run.stderr).toBe('ok');
    const s = run.seen;
    expect(s.edit_train).toBe('ok');
    expect(s.new_file).toBe('ok');
    expect(s.mkdir).toBe('ok');
    expect(readFileSync(join(fx.worktree, 'train.py'), 'utf8')).toContain('edited by the agent');
    expect(readFileSync(join(fx.worktree, 'notes.txt'), 'utf8')).toBe('new');
    expect(existsSync(join(fx.worktree, 'src', 'pkg'))).toBe(true);
    // The worktree's .git pointer stays read-only on top of the writable tree (a moved gitdir would fool CHECK).
    expect(s.git_file).toMatch(/Read-only file system|Permission denied/);
    expect(s.rm_git_file).toMatch(/Device or resource busy|Read-only file system|Permission denied/);
    expect(readFileSync(join(fx.worktree, '.git'), 'utf8')).toContain('/nowhere/');
    for (const k of ['brief', 'data', 'root', 'usr'])
      expect(s[k], k).toMatch(/Read-only file system|Permission denied/);
    expect(s.brief_text).toBe('do something useful\n');
    expect(s.vault_read).toMatch(/FileNotFoundError/);
    expect(s.project_read).toMatch(/FileNotFoundError/);
    expect(s.network).not.toBe('ok');
    expectNoSecret(fx, run);
  });

  it('without the option the worktree stays read-only (the experiment sandbox is unchanged)', async () => {
    writeFileSync(join(fx.worktree, 'train.py'), 'print("original")\n');
    const run = await runPy(
      fx,
      `import json
try:
    open('/workspace/train.py', 'w').write('x')
    r = 'ok'
except Exception as e:
    r = str(e)
json.dump({'edit': r}, open('/output/result.json', 'w'))
`,
    );
    expect(run.result.status, run.stderr).toBe('ok');
    expect(run.seen.edit).toMatch(/Read-only file system/);
    expect(readFileSync(join(fx.worktree, 'train.py'), 'utf8')).toBe('print("original")\n');
  });
});
