#!/usr/bin/env python3
"""The harness of the harness-qa example: prompts a chat model to answer short questions, one request per task.

What Ratchet optimizes here is this harness (this file, prompts/ and params.yaml), not a model: the score is
exact match on the holdout tasks, and the tokens the model spends are a second objective.

How Ratchet runs it: `python harness.py` in a sandbox with no network, cwd = the project's worktree (read-only):
  RATCHET_TRAIN      CSV of the search split: task_id,input,expected (worked examples come from here)
  RATCHET_PUBLIC     CSV of the public holdout: task_id,input
  RATCHET_PRIVATE    CSV of the private holdout: task_id,input
  RATCHET_OUTPUT     the only writable folder: public.csv and private.csv (task_id,prediction) go there
  OPENAI_BASE_URL    the model endpoint as the sandbox sees it (a forwarder to Ratchet's host proxy), e.g.
                     http://127.0.0.1:18080/v1
  OPENAI_API_KEY     a placeholder: the proxy adds the real key on the host, it never enters the sandbox
  RATCHET_MODEL      the model name to send
For every task it sends POST {OPENAI_BASE_URL}/chat/completions with the header X-Ratchet-Task: <task_id>, so
the proxy can count the tokens of each task. A connection error is retried once; a 429 or 400 from the proxy
(a budget cap reached) leaves that task's prediction empty and goes on.

Everything tunable is in params.yaml (the search proposer rewrites it):
  skill_<family>:      add prompts/skills/<family>.md to the system prompt (arithmetic, reversal, conversion,
                       counting)
  format_instruction:  add prompts/format.md to the system prompt
  examples_<family>:   how many worked examples of that family to show, taken in file order from RATCHET_TRAIN
  example_style:       turns (a user and an assistant message per example) | inline (a block in the system prompt)
  extract_answer:      true: the prediction is the text after the last "The answer is" (else the whole reply)
  max_tokens:          the completion limit sent with each request
Uses only the Python standard library and pyyaml. It prints token totals as the endpoint reported them; it
prints no score (Ratchet scores the predictions on answers this script never sees).
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
FAMILIES = ("arithmetic", "reversal", "conversion", "counting")
# how to tell a task's family from its text (used to pick worked examples)
FAMILY_PATTERNS = {
    "arithmetic": re.compile(r"^\s*What is ", re.I),
    "reversal": re.compile(r"^\s*Reverse the word ", re.I),
    "conversion": re.compile(r"^\s*Convert ", re.I),
    "counting": re.compile(r"^\s*How many times does ", re.I),
}
DEFAULTS: dict[str, Any] = {
    **{f"skill_{f}": False for f in FAMILIES},
    **{f"examples_{f}": 0 for f in FAMILIES},
    "format_instruction": False,
    "example_style": "turns",
    "extract_answer": False,
    "max_tokens": 32,
}
TIMEOUT_S = 120
# a cap reached at the proxy: this task gets an empty prediction, the rest go on
CAP_STATUSES = {400, 429}


def log(msg: str) -> None:
    print(f"[harness] {msg}", flush=True)


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        sys.exit(f"[harness] {name} is not set (Ratchet sets it; by hand, see README.md)")
    return value


def read_csv(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def family_of(text: str) -> str | None:
    for family, pattern in FAMILY_PATTERNS.items():
        if pattern.search(text):
            return family
    return None


def load_params() -> dict[str, Any]:
    with (HERE / "params.yaml").open(encoding="utf-8") as f:
        loaded = yaml.safe_load(f) or {}
    unknown = sorted(set(loaded) - set(DEFAULTS))
    if unknown:
        log(f"ignoring unknown params: {', '.join(unknown)}")
    return {**DEFAULTS, **{k: v for k, v in loaded.items() if k in DEFAULTS}}


def read_prompt(rel: str) -> str:
    return (HERE / "prompts" / rel).read_text(encoding="utf-8").strip()


def pick_examples(train: list[dict[str, str]], params: dict[str, Any]) -> list[dict[str, str]]:
    """The first examples_<family> rows of each family, in the search split's order."""
    left = {f: int(params[f"examples_{f}"]) for f in FAMILIES}
    picked = []
    for row in train:
        family = family_of(row["input"])
        if family and left[family] > 0:
            picked.append(row)
            left[family] -= 1
    return picked


def build_system(params: dict[str, Any], examples: list[dict[str, str]]) -> str:
    parts = [read_prompt("system.md")]
    parts += [read_prompt(f"skills/{f}.md") for f in FAMILIES if params[f"skill_{f}"]]
    if params["format_instruction"]:
        parts.append(read_prompt("format.md"))
    if examples and params["example_style"] == "inline":
        block = "\n".join(f"Q: {e['input']}\nA: {e['expected']}" for e in examples)
        parts.append(f"Examples:\n{block}")
    return "\n".join(parts)


def build_messages(system: str, examples: list[dict[str, str]], params: dict[str, Any], question: str):
    messages = [{"role": "system", "content": system}]
    if params["example_style"] != "inline":
        for e in examples:
            messages.append({"role": "user", "content": e["input"]})
            messages.append({"role": "assistant", "content": e["expected"]})
    messages.append({"role": "user", "content": question})
    return messages


class Client:
    """POST /chat/completions through Ratchet's proxy; counts the usage the endpoint reports."""

    def __init__(self) -> None:
        self.url = env("OPENAI_BASE_URL").rstrip("/") + "/chat/completions"
        self.key = os.environ.get("OPENAI_API_KEY") or "placeholder"
        self.model = env("RATCHET_MODEL", "ratchet-stand-in")
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.capped = 0

    def ask(self, task_id: str, messages: list[dict[str, str]], max_tokens: int) -> str:
        body = json.dumps(
            {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens}
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self.key}",
            "X-Ratchet-Task": task_id,
        }
        for attempt in (1, 2):
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                    reply = json.load(response)
                break
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:300]
                if e.code in CAP_STATUSES:
                    self.capped += 1
                    log(f"{task_id}: HTTP {e.code} (a cap reached?): empty prediction. {detail}")
                    return ""
                if e.code >= 500 and attempt == 1:
                    log(f"{task_id}: HTTP {e.code}, retrying once")
                    time.sleep(1)
                    continue
                sys.exit(f"[harness] {task_id}: HTTP {e.code} from {self.url}: {detail}")
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                if attempt == 1:
                    log(f"{task_id}: connection error ({e}), retrying once")
                    time.sleep(1)
                    continue
                sys.exit(f"[harness] {task_id}: cannot reach the model at {self.url}: {e}")
        usage = reply.get("usage") or {}
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        return reply["choices"][0]["message"].get("content") or ""


def extract(content: str, params: dict[str, Any]) -> str:
    text = content.strip()
    if params["extract_answer"]:
        match = None
        for match in re.finditer(r"the answer is", text, re.I):
            pass
        if match is not None:
            text = text[match.end() :].strip()
            if text.endswith("."):
                text = text[:-1].rstrip()
    return text


def main() -> None:
    params = load_params()
    train = read_csv(env("RATCHET_TRAIN"))
    out_dir = Path(env("RATCHET_OUTPUT"))
    examples = pick_examples(train, params)
    system = build_system(params, examples)
    client = Client()
    log(f"{len(examples)} worked examples ({params['example_style']}), model {client.model}")
    for split in ("public", "private"):
        tasks = read_csv(env(f"RATCHET_{split.upper()}"))
        rows = []
        for task in tasks:
            messages = build_messages(system, examples, params, task["input"])
            content = client.ask(task["task_id"], messages, int(params["max_tokens"]))
            rows.append((task["task_id"], extract(content, params)))
        with (out_dir / f"{split}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["task_id", "prediction"])
            writer.writerows(rows)
        log(f"{split}: {len(rows)} predictions")
    log(
        f"tokens reported by the endpoint: prompt {client.prompt_tokens}, completion {client.completion_tokens}"
        + (f"; {client.capped} tasks hit a cap" if client.capped else "")
    )


if __name__ == "__main__":
    main()
