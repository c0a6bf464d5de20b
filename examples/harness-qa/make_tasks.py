#!/usr/bin/env python3
"""Generate tasks.csv, the harness-qa task suite: 90 short questions in four families, mixed.

Generated, not real data: a fixed seed makes the file the same on every run. Each task has one exact answer,
written the way Ratchet's stand-in model writes results (numbers with at most 6 decimals, no trailing zeros).

    python make_tasks.py            # rewrites tasks.csv next to this script
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 20260417
PER_FAMILY = {"arithmetic": 23, "reversal": 23, "conversion": 22, "counting": 22}

WORDS = [
    "lantern", "harbor", "pencil", "garden", "rocket", "meadow", "silver", "window", "button", "candle",
    "forest", "pirate", "marble", "tunnel", "violet", "basket", "castle", "dragon", "planet", "ribbon",
    "saddle", "timber", "walnut", "anchor", "bridge", "copper", "falcon", "glacier", "kettle", "mirror",
]
COUNT_WORDS = [
    "mississippi", "banana", "bookkeeper", "committee", "balloon", "assessment", "parallel", "referee",
    "occurrence", "successful", "tomorrow", "coffee", "millennium", "possession", "barrel", "address",
    "embarrass", "necessary", "hippopotamus", "accommodate", "giraffe", "letter",
]
# (from unit, to unit, factor from->to, values): values chosen so every result is a short exact decimal
CONVERSIONS = [
    ("km", "m", 1000, [1.5, 2, 3.5, 0.75, 12, 4.2]),
    ("m", "cm", 100, [2.5, 0.4, 7, 1.25, 3.6]),
    ("m", "km", 0.001, [2500, 750, 4000, 125]),
    ("kg", "g", 1000, [2.5, 0.3, 4, 1.75]),
    ("g", "kg", 0.001, [1500, 250, 3200]),
    ("h", "min", 60, [1.5, 2, 0.25, 3.5]),
    ("min", "h", 1 / 60, [90, 45, 150, 30]),
    ("L", "mL", 1000, [1.2, 0.5, 2.25]),
    ("mL", "L", 0.001, [500, 1250, 3000]),
]


def fmt(x: float) -> str:
    """At most 6 decimals, no trailing zeros: 3500, 0.25 (as the stand-in formats numbers)."""
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def arithmetic(rng: random.Random) -> tuple[str, str]:
    op = rng.choice("+-*")
    if op == "*":
        a, b = rng.randint(11, 49), rng.randint(3, 29)
    else:
        a, b = rng.randint(100, 999), rng.randint(10, 99)
    r = a + b if op == "+" else a - b if op == "-" else a * b
    return f"What is {a} {op} {b}?", str(r)


def reversal(rng: random.Random, words: list[str]) -> tuple[str, str]:
    w = words.pop()
    return f'Reverse the word "{w}".', w[::-1]


def conversion(rng: random.Random, seen: set[str]) -> tuple[str, str]:
    while True:
        src, dst, factor, values = rng.choice(CONVERSIONS)
        v = rng.choice(values)
        q = f"Convert {fmt(v)} {src} to {dst}."
        if q not in seen:
            seen.add(q)
            return q, fmt(v * factor)


def counting(rng: random.Random, words: list[str]) -> tuple[str, str]:
    w = words.pop()
    # the letter that occurs most often (ties broken by the word's order): counts above 1 are the hard ones
    letter = max(dict.fromkeys(w), key=w.count) if rng.random() < 0.7 else rng.choice(w)
    return f'How many times does "{letter}" occur in "{w}"?', str(w.count(letter))


def main() -> None:
    rng = random.Random(SEED)
    words = WORDS[:]
    count_words = COUNT_WORDS[:]
    rng.shuffle(words)
    rng.shuffle(count_words)
    seen: set[str] = set()
    rows: list[tuple[str, str, str]] = []
    for family, n in PER_FAMILY.items():
        for _ in range(n):
            if family == "arithmetic":
                q, a = arithmetic(rng)
            elif family == "reversal":
                q, a = reversal(rng, words)
            elif family == "conversion":
                q, a = conversion(rng, seen)
            else:
                q, a = counting(rng, count_words)
            rows.append((family, q, a))
    rng.shuffle(rows)
    out = Path(__file__).with_name("tasks.csv")
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["task_id", "input", "expected"])
        for i, (_family, q, a) in enumerate(rows, start=1):
            w.writerow([f"t{i:03d}", q, a])
    print(f"wrote {len(rows)} tasks to {out}")


if __name__ == "__main__":
    main()
