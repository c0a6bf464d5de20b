import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateContract } from '../src/contract/load.js';
import { RatchetError } from '../src/util/errors.js';
import { errorOf as errorOfType } from './helpers/errors.js';
import { cli, ROOT, tempDir, writeExampleData } from './helpers/project.js';

const errorOf = (fn: () => unknown) => errorOfType(fn, RatchetError);

/** The bandit and harness contracts: their sections, defaults and the clear errors of a wrong one. */

const load = (example: string) =>
  parse(readFileSync(join(ROOT, 'examples', example, 'ratchet.yaml'), 'utf8')) as Record<string, any>;

describe('bandit contracts', () => {
  it('fill the ope defaults and refuse what a bandit task cannot use', () => {
    const doc = load('open-bandit');
    delete doc['ope'];
    const c = validateContract(doc, '/p');
    expect(c.ope).toEqual({
      reward_model: 'auto',
      trust: { min_ess_fraction: 0.01, max_weight: 1000, max_unsupported: 0.05, max_disagreement: 0.5 },
      confidence: 0.95,
      resamples: 1000,
    });
    const noProp = load('open-bandit');
    delete noProp['data']['propensity'];
    expect(errorOf(() => validateContract(noProp, '/p')).field).toBe('data.propensity');
    const same = load('open-bandit');
    same['data']['action'] = 'click';
    const e = errorOf(() => validateContract(same, '/p'));
    expect(e.field).toBe('data.action');
    expect(e.message).toMatch(/is also the target/);
    const strat = load('open-bandit');
    strat['split']['strategy'] = 'stratified';
    expect(errorOf(() => validateContract(strat, '/p')).field).toBe('split.strategy');
    const ope = load('gsoep-outwork');
    ope['ope'] = { reward_model: 'auto' };
    expect(errorOf(() => validateContract(ope, '/p')).message).toMatch(/ope only applies to bandit tasks/);
  });

  it('`ratchet init --task bandit` without an example says where to start', () => {
    const dir = tempDir();
    writeExampleData(join(dir, 'data.csv'), 200);
    const r = cli(['init', '--data', 'data.csv', '--target', 'outwork', '--task', 'bandit'], dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no bandit scaffold .*ratchet init --example open-bandit/s);
  });
});

describe('harness contracts', () => {
  it('fill the harness defaults and refuse a harness without its model, with network, or on another task', () => {
    const c = validateContract(load('harness-qa'), '/p');
    expect(c.harness!.key_env).toBe('RATCHET_HARNESS_KEY');
    expect(c.harness!.request_timeout).toBe('60s');
    expect(c.direction).toBe('maximize');
    const none = load('harness-qa');
    delete none['harness'];
    const e = errorOf(() => validateContract(none, '/p'));
    expect(e.field).toBe('harness');
    expect(e.hint).toMatch(/endpoint/);
    const net = load('harness-qa');
    net['run']['network'] = true;
    expect(errorOf(() => validateContract(net, '/p')).message).toMatch(/only through the host proxy/);
    const other = load('gsoep-outwork');
    other['harness'] = { endpoint: 'http://127.0.0.1:1/v1', model: 'm' };
    expect(errorOf(() => validateContract(other, '/p')).message).toMatch(
      /harness only applies to harness tasks/,
    );
    const badUrl = load('harness-qa');
    badUrl['harness']['endpoint'] = 'file:///etc/passwd';
    expect(errorOf(() => validateContract(badUrl, '/p')).field).toBe('harness.endpoint');
  });
});
