"""Prompt moderation benchmark: Blocklist.match against a large term list, as the job path calls it on
every prompt.

    python bench/moderation_bench.py [--terms 5000] [--prompts 10000] [--long 200] [--seed 10]

Builds a list of random pronounceable words plus a few `re:` terms, then times `match` on realistic prompts
(20-80 words; most clean, some hiding a listed term behind spacing, leetspeak, look-alikes or zero-width
characters) and on ~4,000-character prompts. Prints build time and p50/p90/p99/max per prompt; the last
line is JSON."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.moderation.text import Blocklist

CONSONANTS = "bcdfghjklmnprstvwz"
VOWELS = "aeiou"
PATTERNS = [
    "re:\\bkill(ing)? (all|every)\\w*",
    "re:^buy followers",
    "re:\\d{4}-\\d{4}-\\d{4}-\\d{4}",
    "re:f[o0]+b[a@]r",
]
PROMPT_WORDS = (
    "a the of and in with on at by under over portrait painting photo of cat dog castle forest lighthouse dusk "
    "dawn neon city street rain glowing watercolor oil sketch cinematic lighting detailed 4k octane render "
    "soft pastel colors golden hour mountain lake reflection astronaut riding horse space nebula stars ancient "
    "temple ruins overgrown moss fog mysterious dragon flying above clouds sunset cyberpunk samurai armor "
    "steampunk airship brass gears victorian woman wearing red dress smiling old man beard fisherman boat "
    "stormy sea waves crashing cozy cabin snow winter fireplace warm light bowl of fruit still life"
).split()
EVASIONS = [
    lambda w: " ".join(w),  # b a d w o r d
    lambda w: ".".join(w),
    lambda w: w.upper() + "S",
    lambda w: w.replace("a", "4").replace("o", "0").replace("e", "3"),
    lambda w: w.replace("a", "\u0430").replace("o", "\u043e"),  # Cyrillic small a, o
    lambda w: w[:2] + "\u200b" + w[2:],
    lambda w: "".join(chr(0xFF00 + ord(c) - 0x20) for c in w),  # full-width
]


def pronounceable(rng: random.Random) -> str:
    return "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(3, 4)))


def make_terms(rng: random.Random, count: int) -> list[str]:
    terms: set[str] = set()
    while len(terms) < count - len(PATTERNS):
        terms.add(pronounceable(rng))
    return sorted(terms) + PATTERNS


def make_prompt(rng: random.Random, terms: list[str], words: int = 0, chars: int = 0) -> tuple[str, bool]:
    """A prompt of `words` words (or of about `chars` characters), and whether it hides a listed term (one
    prompt in five does)."""
    prompt = [rng.choice(PROMPT_WORDS) for _ in range(words)]
    while sum(map(len, prompt)) + len(prompt) < chars:
        prompt.append(rng.choice(PROMPT_WORDS))
    words = len(prompt)
    hidden = rng.random() < 0.2
    if hidden:
        term = rng.choice(terms[: -len(PATTERNS)])
        prompt[rng.randrange(words)] = rng.choice(EVASIONS)(term)
    return " ".join(prompt), hidden


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def time_matches(blocklist: Blocklist, prompts: list[tuple[str, bool]]) -> dict:
    timings: list[float] = []
    missed = wrongly_refused = 0
    for prompt, hidden in prompts:
        started = time.perf_counter()
        found = blocklist.match(prompt)
        timings.append(time.perf_counter() - started)
        missed += hidden and found is None
        wrongly_refused += not hidden and found is not None
    figures: dict = {
        name: round(percentile(timings, fraction) * 1000, 3)
        for name, fraction in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99), ("max_ms", 1.0))
    }
    hidden_count = sum(hidden for _, hidden in prompts)
    figures.update(prompts=len(prompts), hidden=hidden_count, missed=missed, clean_refused=wrongly_refused)
    return figures


def main(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    terms = make_terms(rng, args.terms)
    builds = []
    for _ in range(5):
        started = time.perf_counter()
        blocklist = Blocklist.of(terms)
        builds.append(time.perf_counter() - started)
    prompts = [make_prompt(rng, terms, rng.randint(20, 80)) for _ in range(args.prompts)]
    long_prompts = [make_prompt(rng, terms, chars=4000) for _ in range(args.long)]
    time_matches(blocklist, prompts[:500])  # warm-up: the reading cache and the interpreter's caches
    return {
        "terms": len(terms),
        "build_ms": round(min(builds) * 1000, 1),
        "short": time_matches(blocklist, prompts),
        "long_chars": max(len(prompt) for prompt, _ in long_prompts),
        "long": time_matches(blocklist, long_prompts),
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--terms", type=int, default=5000)
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--long", type=int, default=200)
    parser.add_argument("--seed", type=int, default=10)
    result = main(parser.parse_args())
    print(f"build: {result['terms']} terms in {result['build_ms']} ms")
    for name, label in (("short", "20-80 words"), ("long", f"~{result['long_chars']} chars")):
        f = result[name]
        print(
            f"{label:12}: p50 {f['p50_ms']} ms, p90 {f['p90_ms']} ms, p99 {f['p99_ms']} ms, max {f['max_ms']} ms; "
            f"{f['prompts']} prompts, {f['hidden']} hiding a term, {f['missed']} missed, "
            f"{f['clean_refused']} clean ones refused"
        )
    print(json.dumps(result))
