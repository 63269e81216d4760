"""Burst benchmark: many Telegram chats asking at the same moment, through the real adapter (python-telegram-bot)
against FakeTelegram and FakeAgnes, with the provider's adaptive concurrency limit (bot/providers/concurrency.py).

The focused version of bench/telegram_bench.py's concurrent mode (which raises the cap and measures overhead):
here everything keeps its default except what is named, and the figure is the whole update -> photo time.

    burst      30 private chats send /imagine at once, upstream 1.0 s: the defaults (adaptive, ceiling 64)
               and AGNES_MAX_CONCURRENCY=8 side by side (target with the defaults: median and max <= 1.10 s)
    congested  the same, but the fake answers 429 (Retry-After: 1) to the first N requests: the limit over
               time, and whether every user still gets an image
    fair       AGNES_MAX_CONCURRENCY=2; group A queues 20 jobs, then group B 2: when B's jobs start

    python bench/burst_bench.py [--chats 30] [--latency 1.0] [--refusals 10] [--mode all|burst|congested|fair]

Prints numbers; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.telegram.adapter import TelegramAdapter
from bot.config import load_settings
from bot.core import Atelier
from bot.providers.concurrency import ConcurrencyLimited, FairLimiter
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.loopback import Recorded
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "123456:BENCH-fake-token-aBcDeFgHiJkL"
GROUP_A, GROUP_B = -1001000000001, -1001000000002


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(seconds: list[float]) -> dict[str, float]:
    return {
        "min_s": round(min(seconds), 3),
        "median_s": round(statistics.median(seconds), 3),
        "p90_s": round(percentile(seconds, 90), 3),
        "max_s": round(max(seconds), 3),
    }


@dataclass
class Bot:
    fake: FakeTelegram
    agnes: FakeAgnes
    core: Atelier

    @property
    def limiter(self) -> FairLimiter:
        provider = self.core.catalogue.image_providers["agnes"]
        assert isinstance(provider, ConcurrencyLimited)
        return provider.limiter


@contextlib.asynccontextmanager
async def running(latency: float, **overrides: Any) -> AsyncIterator[Bot]:
    """The real adapter on a fresh database; only the fakes' URLs and `overrides` differ from the defaults."""
    agnes = await FakeAgnes(latency=latency).start()
    fake = FakeTelegram(token=TOKEN, bot_username="AtelierBot")
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            _env_file=None,
            database_url=f"sqlite:///{tmp}/bench.db",
            agnes_api_key=agnes.api_key,
            agnes_base_url=agnes.base_url,
            telegram_token=fake.token,
            telegram_base_url=fake.base_url,
            telegram_base_file_url=fake.base_file_url,
            **overrides,
        )
        core = await Atelier.start(settings)
        adapter = TelegramAdapter(core, settings)
        await adapter.start()
        try:
            yield Bot(fake, agnes, core)
        finally:
            await adapter.stop()
            await core.close()
            await fake.stop()
            await agnes.stop()


async def burst(bot: Bot, chats: int, first_chat: int = 50_000) -> list[float]:
    """`chats` private chats send /imagine at the same moment; seconds from each update to its photo."""
    fake = bot.fake
    ids = [first_chat + i for i in range(chats)]
    mark = fake.mark()
    offered = {}
    for chat in ids:
        offered[chat] = time.monotonic()
        fake.push_message(chat, f"/imagine a lighthouse at dusk, for chat {chat}")
    await fake.wait_for("sendPhoto", since=mark, count=chats, timeout=120)
    photos = [c for c in fake.calls()[mark:] if c.method == "sendPhoto" and c.ok and c.chat_id in offered]
    assert sorted(c.chat_id for c in photos) == ids, "every chat gets exactly one photo"
    assert all("photo" in c.files for c in photos), "the image's bytes are uploaded, not a URL"
    return [c.ts - offered[int(c.chat_id or 0)] for c in photos]


async def warm_up(bot: Bot) -> None:
    """One job first (connections, imports), at a latency that leaves no status message behind."""
    latency, bot.agnes.latency = bot.agnes.latency, 0.0
    await burst(bot, 1, first_chat=40_000)
    bot.agnes.latency = latency


def record_changes(limiter: FairLimiter, started: float) -> list[dict[str, Any]]:
    """Every change of the limit, as it happens: the limiter's own `congested` and `succeeded` are wrapped on
    this instance (the bench reads, it changes nothing)."""
    events: list[dict[str, Any]] = []
    congested, succeeded = limiter.congested, limiter.succeeded

    def note(kind: str, before: int) -> None:
        if limiter.limit != before or kind == "refused":
            events.append(
                {
                    "t_s": round(time.monotonic() - started, 3),
                    "event": kind,
                    "limit": limiter.limit,
                    "active": limiter.active,
                    "waiting": limiter.waiting,
                    "paused_for_s": round(max(0.0, limiter.paused_until - time.monotonic()), 2),
                }
            )

    def on_congested(retry_after: float | None, epoch: int | None = None) -> None:
        before = limiter.limit
        congested(retry_after, epoch)
        note("refused", before)

    def on_succeeded() -> None:
        before = limiter.limit
        succeeded()
        note("success", before)

    limiter.congested = on_congested  # type: ignore[method-assign]
    limiter.succeeded = on_succeeded  # type: ignore[method-assign]
    return events


def timeline_lines(events: list[dict[str, Any]]) -> list[str]:
    """Runs of refusals, and runs of successes (the limit grows by one each), one line per run."""
    lines: list[str] = []
    for kind, run in itertools.groupby(events, key=lambda event: event["event"]):
        batch = list(run)
        first, last = batch[0], batch[-1]
        when = f"{first['t_s']:6.3f}-{last['t_s']:.3f} s" if len(batch) > 1 else f"{first['t_s']:6.3f} s"
        if kind == "success":
            lines.append(f"    {when}: {len(batch)} successes, limit up to {last['limit']}")
        else:
            limits = " -> ".join(str(limit) for limit in dict.fromkeys(event["limit"] for event in batch))
            lines.append(
                f"    {when}: {len(batch)} x 429, limit {limits} ({last['active']} running, "
                f"{last['waiting']} waiting), no new call for {last['paused_for_s']} s"
            )
    return lines


async def congested(chats: int, latency: float, refusals: int) -> dict[str, Any]:
    async with running(latency) as bot:
        await warm_up(bot)
        bot.agnes.faults = [429] * refusals
        bot.agnes.retry_after = "1"
        requests_before = len(bot.agnes.image_requests())
        started = time.monotonic()
        timeline = record_changes(bot.limiter, started)
        seconds = await burst(bot, chats)
        limit_after, ceiling = bot.limiter.limit, bot.limiter.ceiling
        sent = len(bot.agnes.image_requests()) - requests_before
    return {
        "chats": chats,
        "refusals": refusals,
        "provider_requests": sent,
        "photos": len(seconds),
        "ceiling": ceiling,
        "limit_after": limit_after,
        "latency": summary(seconds),
        "timeline": timeline,
    }


async def fair(latency: float, first: int = 20, second: int = 2, ceiling: int = 2) -> dict[str, Any]:
    """Group A's members queue `first` jobs, then group B's `second`: when does B get a slot?"""
    async with running(latency, agnes_max_concurrency=ceiling) as bot:
        await warm_up(bot)
        starts: list[tuple[float, str]] = []

        def started_at(request: Recorded) -> None:
            prompt = (request.body or {}).get("prompt", "")
            starts.append((time.monotonic(), prompt))

        bot.agnes.on_request = started_at
        fake = bot.fake
        fake.add_chat(GROUP_A, "supergroup")
        fake.add_chat(GROUP_B, "supergroup")
        mark = fake.mark()
        t0 = time.monotonic()
        for member in range(first):  # one request per member: the per-member rate limit is not what is measured
            fake.push_message(GROUP_A, f"/imagine server A job {member}", user_id=70_000 + member)
        # B asks once A's first jobs run and the rest of A's wait for a slot.
        await bot.agnes.wait_until(lambda: len(starts) >= ceiling, timeout=10)
        for _ in range(500):
            if bot.limiter.waiting >= first - ceiling:
                break
            await asyncio.sleep(0.01)
        queued_b = time.monotonic()
        for member in range(second):
            fake.push_message(GROUP_B, f"/imagine server B job {member}", user_id=80_000 + member)
        await fake.wait_for("sendPhoto", since=mark, count=first + second, timeout=120)
    a_starts = sorted(t - t0 for t, prompt in starts if "server A" in prompt)
    b_starts = sorted(t - t0 for t, prompt in starts if "server B" in prompt)
    return {
        "ceiling": ceiling,
        "upstream_s": latency,
        "a_jobs": len(a_starts),
        "b_jobs": len(b_starts),
        "b_queued_at_s": round(queued_b - t0, 2),
        "b_started_at_s": [round(t, 2) for t in b_starts],
        "a_started_at_s": [round(t, 2) for t in a_starts],
        "a_last_start_s": round(a_starts[-1], 2),
        "a_started_before_b_done": sum(1 for t in a_starts if t < b_starts[-1]),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=30)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--refusals", type=int, default=10, help="429s the fake answers first (congested mode)")
    parser.add_argument("--mode", choices=["all", "burst", "congested", "fair"], default="all")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result: dict[str, Any] = {"chats": args.chats, "upstream_s": args.latency}

    if args.mode in ("all", "burst"):
        for label, overrides in (("defaults", {}), ("max_concurrency_8", {"agnes_max_concurrency": 8})):
            async with running(args.latency, **overrides) as bot:
                await warm_up(bot)
                stats = summary(await burst(bot, args.chats))
            result[label] = stats
            print(
                f"{args.chats} chats at once, upstream {args.latency} s, {label}: update -> photo "
                f"min {stats['min_s']} s, median {stats['median_s']} s, p90 {stats['p90_s']} s, max {stats['max_s']} s"
            )
        print("  target with the defaults: median and max <= 1.10 s")

    if args.mode in ("all", "congested"):
        report = await congested(args.chats, args.latency, args.refusals)
        result["congested"] = report
        stats = report["latency"]
        print(
            f"{args.chats} chats, first {args.refusals} requests answered 429 (Retry-After: 1): "
            f"{report['photos']}/{args.chats} photos, {report['provider_requests']} provider requests, "
            f"median {stats['median_s']} s, max {stats['max_s']} s; limit at the end {report['limit_after']}"
        )
        print(f"  the limit over time (ceiling {report['ceiling']}):")
        for line in timeline_lines(report["timeline"]):
            print(line)

    if args.mode in ("all", "fair"):
        report = await fair(min(args.latency, 0.5))
        result["fair"] = report
        print(
            f"fairness, ceiling {report['ceiling']}, upstream {report['upstream_s']} s: A queued {report['a_jobs']} "
            f"jobs, B queued {report['b_jobs']} at {report['b_queued_at_s']} s; B's started at "
            f"{report['b_started_at_s']} s, A's last at {report['a_last_start_s']} s "
            f"({report['a_started_before_b_done']} of A's started before B's last)"
        )

    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
