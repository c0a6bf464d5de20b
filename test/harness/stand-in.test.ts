import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StandIn, startStandIn } from '../../src/harness/stand-in.js';
import {
  FAMILIES,
  type Family,
  FORMAT_INSTRUCTION,
  SKILL_INSTRUCTIONS,
  UNKNOWN_REPLY,
} from '../../src/harness/stand-in-rules.js';
import { CLI, cli } from '../helpers/project.js';

const KEY = 'test-key-123';

/** A response body: a completion, or an OpenAI-style error. */
interface Reply {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; message: { role: string; content: string }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface Msg {
  role: string;
  content: string;
}

/** One question per family with its correct answer, a wrong answer it must not give, and a worked example. */
const CASES: Record<Family, { q: string; answer: string; example: { q: string; a: string } }> = {
  arithmetic: { q: 'What is 17 * 23?', answer: '391', example: { q: 'What is 12 + 30?', a: '42' } },
  reversal: {
    q: 'Reverse the word "lantern".',
    answer: 'nretnal',
    example: { q: 'Reverse the word "pencil".', a: 'licnep' },
  },
  conversion: {
    q: 'Convert 3.5 km to m.',
    answer: '3500',
    example: { q: 'Convert 250 g to kg.', a: '0.25' },
  },
  counting: {
    q: 'How many times does "s" occur in "mississippi"?',
    answer: '4',
    example: { q: 'How many times does "o" occur in "balloon"?', a: '2' },
  },
};

let s: StandIn;
beforeAll(async () => {
  s = await startStandIn({ key: KEY });
});
afterAll(async () => {
  await s.close();
});

async function post(
  body: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${KEY}` },
  path = '/chat/completions',
) {
  const res = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Reply };
}

async function chat(messages: Msg[], extra: Record<string, unknown> = {}, task?: string) {
  const r = await post(
    { model: 'ratchet-stand-in', messages, temperature: 0, ...extra },
    { authorization: `Bearer ${KEY}`, ...(task ? { 'x-ratchet-task': task } : {}) },
  );
  expect(r.status).toBe(200);
  return r.json;
}

const content = (r: Reply): string => r.choices[0]!.message.content;

describe('stand-in model: the OpenAI shape', () => {
  it('answers a chat completion with choices and usage', async () => {
    const r = await chat([{ role: 'user', content: 'What is 2 + 2?' }]);
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe('ratchet-stand-in');
    expect(typeof r.id).toBe('string');
    expect(typeof r.created).toBe('number');
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]).toMatchObject({ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' });
    expect(r.usage.total_tokens).toBe(r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  it('lists its one model', async () => {
    const res = await fetch(`${s.url}/models`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(200);
    const j = (await res.json()) as { object: string; data: { id: string; object: string }[] };
    expect(j.object).toBe('list');
    expect(j.data.map((m) => m.id)).toEqual(['ratchet-stand-in']);
  });

  it('refuses a missing or wrong key with 401', async () => {
    const body = { model: 'ratchet-stand-in', messages: [{ role: 'user', content: 'What is 2 + 2?' }] };
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: KEY }] as Record<
      string,
      string
    >[]) {
      const r = await post(body, headers);
      expect(r.status).toBe(401);
      expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
    }
    const models = await fetch(`${s.url}/models`);
    expect(models.status).toBe(401);
  });

  it('answers 404 with an OpenAI-style error for any other path, method or model', async () => {
    const other = await post({}, undefined, '/embeddings');
    expect(other.status).toBe(404);
    expect(other.json.error).toEqual({
      message: 'Invalid URL (POST /v1/embeddings)',
      type: 'invalid_request_error',
      param: null,
      code: null,
    });
    const get = await fetch(`${s.url}/chat/completions`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(get.status).toBe(404);
    const model = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(model.status).toBe(404);
    expect(model.json.error.code).toBe('model_not_found');
  });

  it('answers malformed JSON and invalid requests with 400 and an OpenAI-style error', async () => {
    const bad = await post('{"model": "ratchet-stand-in", "messages": [');
    expect(bad.status).toBe(400);
    expect(bad.json.error.type).toBe('invalid_request_error');
    expect(bad.json.error.message).toMatch(/could not parse the JSON body/);
    expect(Object.keys(bad.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    const cases: [unknown, string | null][] = [
      ['[1, 2]', null],
      [{ messages: [{ role: 'user', content: 'hi' }] }, 'model'],
      [{ model: 'ratchet-stand-in' }, 'messages'],
      [{ model: 'ratchet-stand-in', messages: [] }, 'messages'],
      [{ model: 'ratchet-stand-in', messages: [{ role: 'wizard', content: 'hi' }] }, 'messages.[0].role'],
      [{ model: 'ratchet-stand-in', messages: [{ role: 'user', content: 7 }] }, 'messages.[0].content'],
      [
        { model: 'ratchet-stand-in', messages: [{ role: 'user', content: 'hi' }], max_tokens: 0 },
        'max_tokens',
      ],
      [{ model: 'ratchet-stand-in', messages: [{ role: 'user', content: 'hi' }], stream: true }, 'stream'],
    ];
    for (const [body, param] of cases) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.param).toBe(param);
    }
  });

  it('records each call with its X-Ratchet-Task header and counts requests', async () => {
    const before = s.requests;
    const calls = s.calls.length;
    await chat([{ role: 'user', content: CASES.counting.q }], {}, 't042');
    expect(s.requests).toBe(before + 1);
    expect(s.calls).toHaveLength(calls + 1);
    expect(s.calls.at(-1)).toMatchObject({ task: 't042', family: 'counting', correct: false });
  });
});

describe('stand-in model: the rules', () => {
  const system = (lines: string[]) => ({ role: 'system', content: lines.join('\n') });

  for (const family of FAMILIES) {
    const c = CASES[family];
    it(`${family}: right with its instruction or a worked example, wrong without`, async () => {
      const bare = [FORMAT_INSTRUCTION];
      const without = content(await chat([system(bare), { role: 'user', content: c.q }]));
      expect(without).not.toBe(c.answer);
      expect(without).not.toBe('');

      const instructed = content(
        await chat([system([...bare, SKILL_INSTRUCTIONS[family]]), { role: 'user', content: c.q }]),
      );
      expect(instructed).toBe(c.answer);

      // case and white space of the instruction do not matter
      const shouted = SKILL_INSTRUCTIONS[family].toUpperCase().replace(/ /g, '  ');
      expect(content(await chat([system([...bare, shouted]), { role: 'user', content: c.q }]))).toBe(
        c.answer,
      );

      // a worked example as chat turns
      const turns = content(
        await chat([
          system(bare),
          { role: 'user', content: c.example.q },
          { role: 'assistant', content: c.example.a },
          { role: 'user', content: c.q },
        ]),
      );
      expect(turns).toBe(c.answer);

      // a worked example inline, before the question in the same message
      const inline = content(
        await chat([
          system(bare),
          { role: 'user', content: `Q: ${c.example.q}\nA: ${c.example.a}\n\nQ: ${c.q}` },
        ]),
      );
      expect(inline).toBe(c.answer);

      // an example with a wrong answer teaches nothing; an example of another family neither
      const wrongExample = content(
        await chat([
          system(bare),
          { role: 'user', content: c.example.q },
          { role: 'assistant', content: 'no idea' },
          { role: 'user', content: c.q },
        ]),
      );
      expect(wrongExample).toBe(without);
      const other = FAMILIES.find((f) => f !== family)!;
      const otherExample = content(
        await chat([
          system(bare),
          { role: 'user', content: CASES[other].example.q },
          { role: 'assistant', content: CASES[other].example.a },
          { role: 'user', content: c.q },
        ]),
      );
      expect(otherExample).toBe(without);
    });
  }

  it('gives the plausible wrong answers it documents', async () => {
    const ask = async (q: string) =>
      content(await chat([system([FORMAT_INSTRUCTION]), { role: 'user', content: q }]));
    expect(Math.abs(Number(await ask(CASES.arithmetic.q)) - 391)).toBeOneOf([1, 10]);
    expect(['lantern', 'rnetnal']).toContain(await ask(CASES.reversal.q));
    expect(['0.0035', '35000']).toContain(await ask(CASES.conversion.q));
    expect(['3', '5']).toContain(await ask(CASES.counting.q));
  });

  it('a vague instruction does not count', async () => {
    const r = await chat([
      system([FORMAT_INSTRUCTION, 'When a question involves units, pay attention to the units.']),
      { role: 'user', content: CASES.conversion.q },
    ]);
    expect(content(r)).not.toBe('3500');
  });

  it('the format instruction switches between the bare result and "The answer is <x>."', async () => {
    const skills = FAMILIES.map((f) => SKILL_INSTRUCTIONS[f]);
    for (const family of FAMILIES) {
      const c = CASES[family];
      const wrapped = content(await chat([system(skills), { role: 'user', content: c.q }]));
      expect(wrapped).toBe(`The answer is ${c.answer}.`);
      const bare = content(
        await chat([system([...skills, 'answer  with the RESULT only']), { role: 'user', content: c.q }]),
      );
      expect(bare).toBe(c.answer);
    }
    // no question it knows: a fixed reply
    expect(content(await chat([{ role: 'user', content: 'Tell me a joke.' }]))).toBe(UNKNOWN_REPLY);
  });

  it('counts tokens by the stated formula, growing with the prompt', async () => {
    const messages = [
      system([FORMAT_INSTRUCTION, SKILL_INSTRUCTIONS.arithmetic]),
      { role: 'user', content: CASES.arithmetic.q },
    ];
    const chars = messages.reduce((n, m) => n + m.content.length, 0);
    const r = await chat(messages);
    expect(r.usage.prompt_tokens).toBe(Math.ceil(chars / 4) + 4 * messages.length);
    expect(r.usage.completion_tokens).toBe(Math.ceil('391'.length / 4) + 1);

    const padding = 'Please be very careful and precise. '.repeat(20);
    const bloated = [{ role: 'system', content: padding }, ...messages];
    const b = await chat(bloated);
    expect(content(b)).toBe('391');
    expect(b.usage.prompt_tokens).toBe(Math.ceil((chars + padding.length) / 4) + 4 * 3);
    expect(b.usage.prompt_tokens).toBeGreaterThan(r.usage.prompt_tokens + padding.length / 4);

    // the wrapped answer costs more completion tokens than the bare one
    const wrapped = await chat([
      system([SKILL_INSTRUCTIONS.arithmetic]),
      { role: 'user', content: CASES.arithmetic.q },
    ]);
    expect(wrapped.usage.completion_tokens).toBe(Math.ceil('The answer is 391.'.length / 4) + 1);
  });

  it('cuts the reply at max_tokens like a real model', async () => {
    const messages = [system([SKILL_INSTRUCTIONS.reversal]), { role: 'user', content: CASES.reversal.q }];
    const full = 'The answer is nretnal.';
    const r = await chat(messages, { max_tokens: 3 });
    expect(content(r)).toBe(full.slice(0, 8));
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage.completion_tokens).toBe(3);
    const enough = await chat(messages, { max_tokens: 7 });
    expect(content(enough)).toBe(full);
    expect(enough.choices[0]!.finish_reason).toBe('stop');
    // max_completion_tokens, the newer name, works too
    expect(content(await chat(messages, { max_completion_tokens: 2 }))).toBe('The ');
  });

  it('is deterministic across calls', async () => {
    for (const family of FAMILIES) {
      const messages = [system(['Be helpful.']), { role: 'user', content: CASES[family].q }];
      const a = await chat(messages);
      const b = await chat(messages);
      expect(content(b)).toBe(content(a));
      expect(b.usage).toEqual(a.usage);
    }
  });
});

describe('ratchet stand-in-model', () => {
  it('prints its base URL, serves with the given key and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'stand-in-model', '--port', '0', '--key', 'cli-key'], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    try {
      let out = '';
      const url = await new Promise<string>((done, fail) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /(http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out);
          if (m) done(m[1]!);
        });
        child.on('exit', (code) => fail(new Error(`exited ${code}: ${out}`)));
      });
      expect(out).toMatch(/Stand-in model \(scripted, not an LLM\)/);
      const ok = await fetch(`${url}/models`, { headers: { authorization: 'Bearer cli-key' } });
      expect(ok.status).toBe(200);
      expect((await fetch(`${url}/models`)).status).toBe(401);
      const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a bad port', () => {
    const r = cli(['stand-in-model', '--port', 'eighty'], process.cwd());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--port must be an integer/);
  });
});
