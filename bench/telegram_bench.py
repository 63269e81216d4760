"""Telegram adapter benchmark: the real adapter (python-telegram-bot) against FakeTelegram and FakeAgnes.

Measures the adapter's own latency, from an update being offered to the Bot API (push_message) to the
matching sendPhoto arriving there, minus the provider's fixed latency (median, p90, p99); the text messages
besides the photos that 30 chats asking at once with 1 s jobs cost (status messages, their edits and
removal) and every non-photo call per such job, chat actions included; and the Bot API calls one streamed
2,000-character answer costs in a group, with how long after the stream ended the whole answer was
visible, with Telegram's flood limit (20 a minute) off and on.
Prints numbers; the last line is JSON.

    python bench/telegram_bench.py [--runs 50] [--concurrent 20] [--latency 0.2] [--quick 30]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: the shared set-up in burst_bench

import itertools

from burst_bench import Bot, burst, running

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram

GROUP = -1009876543210


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def sequential(fake: FakeTelegram, runs: int, upstream: float, first_chat: int = 10_000) -> list[float]:
    """Each run in a chat of its own: a second message in one chat waits for that chat's pace (flood limits)."""
    overheads = []
    for run in range(runs):
        chat = first_chat + run
        fake.add_chat(chat)
        mark = fake.mark()
        offered = time.monotonic()
        fake.push_message(chat, f"/imagine sequential run {run}")
        photo = await fake.wait_for("sendPhoto", lambda c, chat=chat: c.chat_id == chat, since=mark, timeout=10)
        overheads.append((photo.ts - offered - upstream) * 1000)
    return overheads


async def concurrent(bot: Bot, count: int, upstream: float) -> list[float]:
    """Overhead per job (ms) with `count` chats asking at once: burst_bench's burst, minus the upstream."""
    return [(seconds - upstream) * 1000 for seconds in await burst(bot, count, first_chat=20_000)]


TEXT_CALLS = ("sendMessage", "editMessageText", "deleteMessage", "editMessageReplyMarkup")


async def quick_jobs(bot: Bot, chats: int) -> dict[str, object]:
    """`chats` chats ask at once for 1 s jobs: the text calls made in those chats besides their photos, and
    every call there but the photo (chat actions too), per job."""
    fake, latency = bot.fake, bot.agnes.latency
    bot.agnes.latency = 1.0
    mark = fake.mark()
    seconds = await burst(bot, chats, first_chat=30_000)
    await asyncio.sleep(3.0)  # a status message's removal follows its photo
    bot.agnes.latency = latency
    asked = range(30_000, 30_000 + chats)
    in_chats = [c for c in fake.calls()[mark:] if c.chat_id in asked]
    extra = [c for c in in_chats if c.method in TEXT_CALLS]
    non_photo = [c.method for c in in_chats if c.method != "sendPhoto"]
    return {
        "jobs": chats,
        "extra_text_calls": len(extra),
        "non_photo_calls_per_job": round(len(non_photo) / chats, 2),
        "non_photo_by_method": dict(collections.Counter(non_photo)),
        "median_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
    }


async def streamed_answer(
    fake: FakeTelegram, agnes: FakeAgnes, chars: int, group: int = GROUP, *, flood_limits: bool = False
) -> dict[str, object]:
    agnes.chat_reply = ("Lighthouses guide ships along dangerous coasts at night. " * 40)[:chars]
    agnes.chat_chunk, agnes.latency = 8, 0.04  # ~200 characters a second, like a fast model
    fake.add_chat(group, "supergroup")
    if flood_limits:
        fake.limit_chat_rate(20, 60.0)
    mark = fake.mark()
    started = time.monotonic()
    fake.push_message(group, "@AtelierBot tell me about lighthouses", user_id=4242)
    done = await fake.wait_for(
        "editMessageText", lambda c: c.params.get("text") == agnes.chat_reply, since=mark, timeout=60
    )
    calls = [c for c in fake.calls()[mark:] if c.chat_id == group and c.method != "getUpdates" and c.seq <= done.seq]
    by_method: dict[str, int] = {}
    for call in calls:
        by_method[call.method] = by_method.get(call.method, 0) + 1
    edits = [c.ts for c in calls if c.method == "editMessageText"]
    gaps = [b - a for a, b in itertools.pairwise(edits)]
    return {
        "calls": len(calls),
        "by_method": by_method,
        "seconds": round(done.ts - started, 2),
        "min_edit_gap_s": round(min(gaps), 2) if gaps else None,
        "complete_after_stream_s": round(done.ts - agnes.chat_ended_at[-1], 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--quick", type=int, default=30, help="chats asking at once for 1 s jobs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    overrides = {
        "quota_images_per_user_per_day": 100_000,
        "quota_images_per_guild_per_day": 100_000,
        "rate_limit_per_user_per_minute": 100_000,
        # The provider's own concurrency cap would queue the concurrent runs: that is not Telegram overhead.
        "agnes_max_concurrency": max(64, args.concurrent, args.quick),
    }
    async with running(args.latency, **overrides) as bot:
        fake, agnes = bot.fake, bot.agnes
        await sequential(fake, 3, args.latency, first_chat=9_000)  # warm-up: connections, first imports
        seq = await sequential(fake, args.runs, args.latency)
        conc = await concurrent(bot, args.concurrent, args.latency)
        quick = await quick_jobs(bot, args.quick)
        agnes_latency = agnes.latency
        stream = await streamed_answer(fake, agnes, args.chars)
        flooded = await streamed_answer(fake, agnes, args.chars, GROUP - 1, flood_limits=True)
        agnes.latency = agnes_latency

    result = {
        "upstream_latency_s": args.latency,
        "sequential_runs": len(seq),
        "sequential_p50_ms": round(statistics.median(seq), 1),
        "sequential_p90_ms": round(percentile(seq, 90), 1),
        "sequential_p99_ms": round(percentile(seq, 99), 1),
        "concurrent_runs": len(conc),
        "concurrent_p50_ms": round(statistics.median(conc), 1),
        "concurrent_p99_ms": round(percentile(conc, 99), 1),
        "stream_chars": args.chars,
        "stream_group_api_calls": stream["calls"],
        "stream_calls_by_method": stream["by_method"],
        "stream_seconds": stream["seconds"],
        "stream_min_edit_gap_s": stream["min_edit_gap_s"],
        "stream_complete_after_s": stream["complete_after_stream_s"],
        "stream_flood_limited_calls": flooded["calls"],
        "stream_flood_limited_complete_after_s": flooded["complete_after_stream_s"],
        "quick_jobs": quick["jobs"],
        "quick_jobs_extra_text_calls": quick["extra_text_calls"],
        "quick_jobs_non_photo_calls_per_job": quick["non_photo_calls_per_job"],
        "quick_jobs_non_photo_by_method": quick["non_photo_by_method"],
        "quick_jobs_max_s": quick["max_s"],
    }
    print(
        f"update -> sendPhoto overhead, sequential x{len(seq)}: median {result['sequential_p50_ms']} ms, "
        f"p90 {result['sequential_p90_ms']} ms, p99 {result['sequential_p99_ms']} ms (target p90 <= 10 ms)"
    )
    print(
        f"update -> sendPhoto overhead, concurrent x{len(conc)}: p50 {result['concurrent_p50_ms']} ms, "
        f"p99 {result['concurrent_p99_ms']} ms"
    )
    print(
        f"streamed {args.chars}-char answer in a group: {stream['calls']} Bot API calls {stream['by_method']} "
        f"over {stream['seconds']} s, edits >= {stream['min_edit_gap_s']} s apart, complete "
        f"{stream['complete_after_stream_s']} s after the stream ended (target <= 5 calls, <= 1.0 s)"
    )
    print(
        f"  with flood limits on (20 a minute): {flooded['calls']} calls, complete "
        f"{flooded['complete_after_stream_s']} s after the stream ended"
    )
    print(
        f"{quick['jobs']} chats at once, 1 s jobs: {quick['extra_text_calls']} text calls besides the photos "
        f"(status messages, edits, removals; target 0), photo after median {quick['median_s']} s, "
        f"max {quick['max_s']} s"
    )
    print(
        f"  non-photo Bot API calls per quick job: {quick['non_photo_calls_per_job']} "
        f"{quick['non_photo_by_method']} (chat actions included)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
