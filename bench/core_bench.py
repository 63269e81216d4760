"""Core benchmark: N concurrent /imagine jobs through the real job path against the fake Agnes server
(fixed upstream latency, ~1 MB PNG result), plus raw quota reserve+commit throughput.

    python bench/core_bench.py [--jobs 200] [--latency 0.5] [--image-bytes 1000000]

Prints per-job overhead at p50/p99 (end-to-end minus what the upstream itself spent on the job, as the fake
measured it: its latency plus its own timer's lateness; the figure minus the nominal latency alone is printed
beside it), throughput, peak RSS and quota operations per second; the last line is JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: upstream_time

from upstream_time import TimedAgnes, by_tag, fetch_processing

from bot.config import load_settings
from bot.core import Atelier
from bot.messages import Delivery
from bot.store.quotas import NewJob, QuotaLimits
from tests.fakes.images import noisy_png
from tests.recording import RecordingReply, make_request, say


def _serve_fake(latency: float, image_bytes: int, ready: multiprocessing.Queue) -> None:
    """The upstream runs in its own process so its work is not billed to the core's event loop."""

    async def serve() -> None:
        fake = await TimedAgnes(latency=latency, image=noisy_png(image_bytes), output_mode="b64").start()
        ready.put((fake.base_url, len(fake.image)))
        await asyncio.Event().wait()

    asyncio.run(serve())


class TimedReply(RecordingReply):
    """Notes when the images arrived and lets go of them, as an adapter does once they are uploaded (keeping
    200 deliveries would put 200 MB of the bench's own into the bot's peak RSS)."""

    delivered_at: float = 0.0
    delivered: int = 0

    async def send_images(self, delivery: Delivery) -> None:
        self.delivered_at = time.perf_counter()
        self.delivered += 1


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run_jobs(core: Atelier, jobs: int, latency: float, spread: float, upstream_url: str, phase: str) -> dict:
    """Start `jobs` requests spread evenly over `spread` seconds (0 = all at once)."""

    async def one(index: int) -> tuple[str, float]:
        await asyncio.sleep(spread * index / jobs)
        reply = TimedReply()
        tag = f"{phase}-{index}"
        started = time.perf_counter()
        await say(core, f"/imagine a lighthouse at dusk #{tag}", make_request(f"user{index}"), reply)
        if not reply.delivered:
            raise RuntimeError(f"job failed: {reply.errors}")
        return tag, reply.delivered_at - started

    began, cpu_before = time.perf_counter(), cpu_seconds()
    ended = await asyncio.gather(*(one(i) for i in range(jobs)))
    elapsed = time.perf_counter() - began
    cpu_ms = (cpu_seconds() - cpu_before) / jobs * 1000
    spent = by_tag(await fetch_processing(upstream_url))
    overheads = [seconds - spent[tag] for tag, seconds in ended]
    nominal = [seconds - latency for _, seconds in ended]
    return {
        # The bot's own CPU (all its threads; the fake upstream is another process) per job: unlike the
        # overhead, free of the machine's wake-up latency after the upstream's idle wait.
        "cpu_ms_per_job": round(cpu_ms, 2),
        "overhead_p50_ms": round(percentile(overheads, 0.5) * 1000, 2),
        "overhead_p99_ms": round(percentile(overheads, 0.99) * 1000, 2),
        "overhead_mean_ms": round(statistics.mean(overheads) * 1000, 2),
        "minus_nominal_latency_p50_ms": round(percentile(nominal, 0.5) * 1000, 2),
        "throughput_jobs_per_s": round(jobs / elapsed, 1),
    }


async def quota_ops(core: Atelier, count: int) -> float:
    limits = QuotaLimits(per_user=10**9, per_scope=10**9)

    async def reserve_commit(index: int) -> None:
        job = NewJob(f"bench{index}", "imagine", f"u{index % 50}", "u", "bench:guild:g", "c", "p", {}, "agnes", 1)
        assert await core.store.quotas.reserve(job, limits) is None
        await core.store.quotas.commit(job.id, {})

    began = time.perf_counter()
    await asyncio.gather(*(reserve_commit(i) for i in range(count)))
    return count / (time.perf_counter() - began)


async def main(args: argparse.Namespace) -> dict:
    ready: multiprocessing.Queue = multiprocessing.Queue()
    upstream = multiprocessing.Process(target=_serve_fake, args=(args.latency, args.image_bytes, ready), daemon=True)
    upstream.start()
    base_url, image_size = ready.get(timeout=30)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            _env_file=None,
            agnes_api_key="test-agnes-key",
            agnes_base_url=base_url,
            database_url=f"sqlite:///{folder}/bench.db",
            quota_images_per_user_per_day=10**6,
            quota_images_per_guild_per_day=10**6,
            rate_limit_per_user_per_minute=10**6,
            agnes_max_concurrency=10**4,
        )
        core = await Atelier.start(settings)
        try:
            # Warm-up: one pass at full concurrency, so the connection pool is as warm as in a bot that has
            # been running (otherwise every measured job would also open its own connection).
            await run_jobs(core, args.jobs, args.latency, args.latency, base_url, "warm")
            # Steady: arrivals spread over one upstream latency, so `jobs` are in flight at once.
            steady = await run_jobs(core, args.jobs, args.latency, args.latency, base_url, "steady")
            steady["peak_rss_mb"] = peak_rss_mb()
            # Burst: every job starts at the same instant, so all answers land together.
            burst = await run_jobs(core, args.jobs, args.latency, 0, base_url, "burst")
            burst["peak_rss_mb"] = peak_rss_mb()
            ops = await quota_ops(core, args.quota_ops)
        finally:
            await core.close()
    upstream.terminate()
    return {
        "jobs": args.jobs,
        "upstream_latency_s": args.latency,
        "result_png_bytes": image_size,
        "burst": burst,
        "steady": steady,
        "quota_reserve_commit_per_s": round(ops),
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=8.0)
    parser.add_argument("--image-bytes", type=int, default=1_000_000)
    parser.add_argument("--quota-ops", type=int, default=5000)
    result = asyncio.run(main(parser.parse_args()))
    for mode in ("steady", "burst"):
        figures = result[mode]
        print(
            f"{mode:6}: {result['jobs']} jobs, overhead p50 {figures['overhead_p50_ms']} ms, "
            f"p99 {figures['overhead_p99_ms']} ms (minus the nominal latency: p50 "
            f"{figures['minus_nominal_latency_p50_ms']} ms), throughput {figures['throughput_jobs_per_s']} jobs/s, "
            f"peak RSS {figures['peak_rss_mb']} MB, bot CPU {figures['cpu_ms_per_job']} ms per job"
        )
    print(f"quota reserve+commit {result['quota_reserve_commit_per_s']} ops/s")
    print(json.dumps(result))
