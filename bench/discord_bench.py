"""Discord adapter benchmark: /imagine through the real discord.py client, from the INTERACTION_CREATE
dispatch to the follow-up upload arriving at a fake Discord, minus what the upstream itself spent on the job
(as the fake measured it: its fixed latency plus its own timer's lateness; the figure minus the nominal latency
alone is printed beside it).

    python bench/discord_bench.py [--sequential 50] [--concurrent 20] [--latency 0.2] [--image-bytes 1000000]

Three processes, so each side's work is billed to its own event loop: this one runs FakeDiscord (REST +
gateway) and takes the timings on its own clock; one runs FakeAgnes (fixed latency); one runs Atelier
(core + DiscordAdapter) pointed at both. Prints p50/p99 of the overhead and of the acknowledgement
(defer) time, sequential and concurrent; the last line is JSON. ATELIER_BENCH_PROFILE=FILE writes a cProfile
of the bot's process to FILE."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: upstream_time

from upstream_time import TimedAgnes, by_tag, fetch_processing

from tests.fakes.discord_server import FakeDiscord, FakeInteraction, RecordedRequest
from tests.fakes.images import noisy_png


def _serve_agnes(latency: float, image_bytes: int, ready: multiprocessing.Queue) -> None:
    async def serve() -> None:
        fake = await TimedAgnes(latency=latency, image=noisy_png(image_bytes), output_mode="b64").start()
        ready.put((fake.base_url, fake.api_key, len(fake.image)))
        await asyncio.Event().wait()

    asyncio.run(serve())


def _serve_bot(discord_urls: tuple[str, str], token: str, guild_id: int, agnes: tuple[str, str], ready, stop) -> None:
    """Atelier as `atelier run` would start it, with discord.py pointed at the fake."""

    async def serve() -> None:
        import discord.gateway
        import discord.http
        import yarl

        from adapters.discord.adapter import DiscordAdapter
        from bot.config import load_settings
        from bot.core import Atelier

        logging.basicConfig(level=logging.WARNING)
        discord.http.Route.BASE = discord_urls[0]
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(discord_urls[1])
        with tempfile.TemporaryDirectory() as folder:
            settings = load_settings(
                _env_file=None,
                agnes_base_url=agnes[0],
                agnes_api_key=agnes[1],
                database_url=f"sqlite:///{folder}/bench.db",
                discord_token=token,
                discord_guild_ids=str(guild_id),
                quota_images_per_user_per_day=10**6,
                quota_images_per_guild_per_day=10**6,
                rate_limit_per_user_per_minute=10**6,
                agnes_max_concurrency=1000,
            )
            core = await Atelier.start(settings)
            adapter = DiscordAdapter(core, settings, guild_ready_timeout=0.05)
            await adapter.start()
            ready.put("ready")
            await asyncio.to_thread(stop.wait)
            await adapter.stop()
            await core.close()

    profile = os.environ.get("ATELIER_BENCH_PROFILE")  # a file: cProfile of the bot's process, for where time goes
    if not profile:
        asyncio.run(serve())
        return
    import cProfile

    with cProfile.Profile() as profiler:
        asyncio.run(serve())
    profiler.dump_stats(profile)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Timings:
    """Reads the fake's request log incrementally: one scan per state change, however many runs wait
    (a scan per waiter would slow the fake down and inflate the very timings it records)."""

    def __init__(self, fake: FakeDiscord) -> None:
        self._fake = fake
        self._seen = 0
        self.followups: dict[str, RecordedRequest] = {}
        self.callbacks: dict[str, RecordedRequest] = {}

    def _scan(self) -> None:
        requests = self._fake.requests
        for request in requests[self._seen :]:
            if request.status >= 300 or request.method != "POST":
                continue
            if request.route == "/webhooks/{webhook_id}/{webhook_token}":
                self.followups.setdefault(request.params["webhook_token"], request)
            elif request.route.endswith("/callback"):
                self.callbacks.setdefault(request.params["interaction_id"], request)
        self._seen = len(requests)

    async def results(self, interactions: list[FakeInteraction]) -> list[tuple[FakeInteraction, float, float]]:
        """(interaction, seconds to its follow-up, seconds to its acknowledgement), once all have their follow-up."""

        def complete() -> bool:
            self._scan()
            return all(inter.token in self.followups for inter in interactions)

        await self._fake.wait_until(complete, 60, what="every follow-up")
        results = []
        for inter in interactions:
            followup, callback = self.followups[inter.token], self.callbacks[str(inter.id)]
            if not followup.files:
                raise RuntimeError(f"no image in the answer: {followup.json}")
            results.append((inter, followup.timestamp - inter.created, callback.timestamp - inter.created))
        return results


async def imagine(fake: FakeDiscord, index: int) -> FakeInteraction:
    return await fake.dispatch_slash_command("imagine", {"prompt": f"a lighthouse #{index}"})


def overheads(
    runs: list[tuple[FakeInteraction, float, float]], spent: dict[str, float], latency: float
) -> list[tuple[float, float, float]]:
    """(overhead, overhead minus the nominal latency only, acknowledgement) per run."""
    tagged = []
    for inter, seconds, ack in runs:
        tag = inter.payload["data"]["options"][0]["value"].rsplit("#", 1)[1]
        tagged.append((seconds - spent[tag], seconds - latency, ack))
    return tagged


def summary(results: list[tuple[float, float, float]]) -> dict:
    measured = [r[0] for r in results]
    nominal = [r[1] for r in results]
    acks = [r[2] for r in results]
    return {
        "runs": len(results),
        "overhead_p50_ms": round(percentile(measured, 0.5) * 1000, 2),
        "overhead_p99_ms": round(percentile(measured, 0.99) * 1000, 2),
        "overhead_mean_ms": round(statistics.mean(measured) * 1000, 2),
        "minus_nominal_latency_p50_ms": round(percentile(nominal, 0.5) * 1000, 2),
        "ack_p50_ms": round(percentile(acks, 0.5) * 1000, 2),
        "ack_p99_ms": round(percentile(acks, 0.99) * 1000, 2),
    }


async def main(args: argparse.Namespace) -> dict:
    spawn = multiprocessing.get_context("spawn")
    agnes_ready: multiprocessing.Queue = spawn.Queue()
    agnes = spawn.Process(target=_serve_agnes, args=(args.latency, args.image_bytes, agnes_ready), daemon=True)
    agnes.start()
    agnes_url, agnes_key, image_size = agnes_ready.get(timeout=60)

    fake = FakeDiscord()
    await fake.start()
    bot_ready: multiprocessing.Queue = spawn.Queue()
    stop = spawn.Event()
    bot = spawn.Process(
        target=_serve_bot,
        args=((fake.api_base, fake.gateway_url), fake.token, fake.guild_id, (agnes_url, agnes_key), bot_ready, stop),
        daemon=True,
    )
    bot.start()
    try:
        await asyncio.to_thread(bot_ready.get, True, 60)
        timings = Timings(fake)
        for index in range(5):  # warm up connections and code paths
            await timings.results([await imagine(fake, index)])
        sequential = []
        for index in range(args.sequential):
            sequential += await timings.results([await imagine(fake, 100 + index)])
        began = time.perf_counter()
        burst = [
            await imagine(fake, 1000 + index) for index in range(args.concurrent)
        ]  # each timed from its own dispatch
        concurrent = await timings.results(burst)
        burst_seconds = time.perf_counter() - began
        spent = by_tag(await fetch_processing(agnes_url))
    finally:
        stop.set()
        await asyncio.to_thread(bot.join, 20)
        await fake.stop()
        agnes.terminate()
    if fake.internal_errors:
        raise RuntimeError(f"fake Discord errors: {fake.internal_errors}")
    return {
        "upstream_latency_s": args.latency,
        "result_png_bytes": image_size,
        "sequential": summary(overheads(sequential, spent, args.latency)),
        "concurrent": {**summary(overheads(concurrent, spent, args.latency)), "wall_s": round(burst_seconds, 3)},
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sequential", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--image-bytes", type=int, default=1_000_000)
    result = asyncio.run(main(parser.parse_args()))
    for mode in ("sequential", "concurrent"):
        figures = result[mode]
        print(
            f"{mode:10}: {figures['runs']} runs, overhead p50 {figures['overhead_p50_ms']} ms, "
            f"p99 {figures['overhead_p99_ms']} ms (mean {figures['overhead_mean_ms']} ms; minus the nominal latency: "
            f"p50 {figures['minus_nominal_latency_p50_ms']} ms); "
            f"deferred after p50 {figures['ack_p50_ms']} ms, p99 {figures['ack_p99_ms']} ms"
        )
    print(json.dumps(result))
