"""Rate-limit admission benchmark: RateLimiter.admit on a real Store (SQLite, WAL) in a temp directory, as
the job path calls it before every image request.

    python bench/rate_bench.py [--askers 200] [--rounds 25] [--per-minute 60] [--guild-rate 600]

Three modes, each with `askers` concurrent askers making `rounds` requests each:
- steady: every asker asks once per `--period` seconds (arrivals spread over it), so about askers/period
  admissions a second, all 200 askers live at once;
- burst: all askers ask at the same instant, `rounds` times (the worst case: each waits behind the rest);
- steady with a server-wide rate (the askers in 10 servers): two statements per admission.
Prints p50/p90/p99/max per admission and the statements' throughput; the last line is JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.ratelimit import Pool, RateLimiter
from bot.store import Store


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(latencies: list[float], seconds: float, refused: int) -> dict:
    return {
        "admissions": len(latencies),
        "refused": refused,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "max_ms": round(max(latencies) * 1000, 3),
        "per_second": round(len(latencies) / seconds),
    }


async def run_mode(limiter: RateLimiter, args: argparse.Namespace, *, burst: bool, pools: int) -> dict:
    latencies: list[float] = []
    refused = 0
    rng = random.Random(11)

    async def asker(index: int) -> None:
        nonlocal refused
        key = f"bench|{'burst' if burst else 'steady'}{pools}|u{index}"
        pool = Pool(f"guild|bench{index % pools}", args.guild_rate) if pools else None
        if not burst:
            await asyncio.sleep(rng.uniform(0, args.period))
        for _ in range(args.rounds):
            started = time.perf_counter()
            refusal = await limiter.admit(key, args.per_minute, pool)
            latencies.append(time.perf_counter() - started)
            refused += refusal is not None
            if not burst:
                await asyncio.sleep(args.period)

    async def burst_rounds() -> None:
        for _ in range(args.rounds):  # one request from every asker at once, then the next round
            await asyncio.gather(*(one_burst(index) for index in range(args.askers)))

    async def one_burst(index: int) -> None:
        nonlocal refused
        started = time.perf_counter()
        refusal = await limiter.admit(f"bench|burst|u{index}", args.per_minute)
        latencies.append(time.perf_counter() - started)
        refused += refusal is not None

    started = time.perf_counter()
    if burst:
        await burst_rounds()
    else:
        await asyncio.gather(*(asker(index) for index in range(args.askers)))
    return summary(latencies, time.perf_counter() - started, refused)


async def main(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        store = await Store.open(Path(directory) / "atelier.db")
        try:
            limiter = RateLimiter(store.rates)
            for index in range(args.askers):  # warm up: the rows exist, as in a bot that has been running
                await limiter.admit(f"warm|u{index}", args.per_minute)
            return {
                "askers": args.askers,
                "rounds": args.rounds,
                "sqlite": __import__("sqlite3").sqlite_version,
                "steady": await run_mode(limiter, args, burst=False, pools=0),
                "burst": await run_mode(limiter, args, burst=True, pools=0),
                "steady_guild_rate": await run_mode(limiter, args, burst=False, pools=10),
            }
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--askers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--per-minute", type=int, default=60)
    parser.add_argument("--guild-rate", type=int, default=600)
    parser.add_argument("--period", type=float, default=0.2, help="seconds between one asker's requests (steady)")
    result = asyncio.run(main(parser.parse_args()))
    for name in ("steady", "burst", "steady_guild_rate"):
        f = result[name]
        print(
            f"{name:18}: p50 {f['p50_ms']} ms, p90 {f['p90_ms']} ms, p99 {f['p99_ms']} ms, max {f['max_ms']} ms; "
            f"{f['admissions']} admissions ({f['refused']} refused), {f['per_second']}/s"
        )
    print(json.dumps(result))
