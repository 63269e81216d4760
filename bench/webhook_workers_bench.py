"""Two Telegram webhook workers against one, same load: real `python -m bot run` processes (as the README runs the
bot) on one shared database, behind a round-robin HTTP forwarder in the load balancer's place, with FakeTelegram
and FakeAgnes in this process (so the bot's CPU is its own, as it is in production).

N /imagine updates from C private chats are POSTed through the forwarder at once; for 1 worker and then 2 it
prints the throughput (images per second, first update to last photo), update -> photo latency, the ratio, and
whether every charged image was delivered exactly once (photos per chat at the fake Bot API against the updates
sent, and the store's finished jobs). Each run has a fresh SQLite file, or uses --database-url (postgresql://...)
with chats of its own. Everything else keeps its default (quotas, rate limits, pacing).

    python bench/webhook_workers_bench.py [--updates 200] [--chats 50] [--latency 0.2] [--database-url URL]

The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.loopback import closed_port
from tests.fakes.telegram_server import FakeTelegram
from tests.test_compose import SECRET_HEADER, RoundRobin, Worker, start_worker, stop_worker

TOKEN = "123456:BENCH-fake-token-aBcDeFgHiJkL"
WEBHOOK_URL = "https://bot.example.org/telegram/webhook"
README_COMMAND = [sys.executable, "-m", "bot", "run"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def done_jobs(database_url: str) -> int | None:
    """Finished (charged and delivered) jobs in the shared store; None for a database this script cannot read."""
    if not database_url.startswith("sqlite:///"):
        return None
    with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
        return int(db.execute("SELECT count(*) FROM jobs WHERE status = 'done'").fetchone()[0])


async def run(
    workers: int, updates: int, chats: int, first_chat: int, database_url: str, workdir: Path, latency: float
) -> dict[str, Any]:
    agnes = await FakeAgnes(latency=latency).start()
    fake = FakeTelegram(token=TOKEN, bot_username="AtelierBot")
    await fake.start()
    env = {
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_BASE_URL": fake.base_url,
        "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
        "AGNES_API_KEY": agnes.api_key,
        "AGNES_BASE_URL": agnes.base_url,
        "DATABASE_URL": database_url,
    }
    running: list[Worker] = []
    proxy: RoundRobin | None = None
    try:
        for number in range(workers):
            port = closed_port()
            worker_env = env | {"TELEGRAM_WEBHOOK_LISTEN": f"127.0.0.1:{port}"}
            running.append(await start_worker(f"worker-{number + 1}", worker_env, port, workdir, README_COMMAND))
        await fake.wait_for("setWebhook", count=workers, timeout=60)
        secret = fake.calls("setWebhook")[0].params["secret_token"]
        proxy = RoundRobin([f"http://127.0.0.1:{w.port}" for w in running])
        proxy_url = await proxy.start() + "/telegram/webhook"
        await warm_up(fake, proxy_url, secret, first_chat - 1, workers)

        mark = fake.mark()
        asked: list[float] = []  # when each provider request arrived
        agnes.on_request = lambda _request: asked.append(time.monotonic())
        offered: dict[tuple[int, int], float] = {}
        sent = collections.Counter[int]()
        in_flight = asyncio.Semaphore(50)  # like Telegram's max_connections (40 by default)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:

            async def post(number: int) -> None:
                chat = first_chat + number % chats
                update = fake.push_message(chat, f"/imagine a lighthouse, job {number}")
                key = (chat, update["message"]["message_id"])
                async with in_flight:
                    offered[key] = time.monotonic()
                    async with http.post(proxy_url, json=update, headers={SECRET_HEADER: secret}) as answer:
                        assert answer.status == 200, answer.status
                sent[chat] += 1

            started = time.monotonic()
            await asyncio.gather(*(post(number) for number in range(updates)))
        await fake.wait_for("sendPhoto", since=mark, count=updates, timeout=300)
        photos = [c for c in fake.calls()[mark:] if c.method == "sendPhoto" and c.ok]
        finished = max(c.ts for c in photos)
        latencies = [c.ts - offered[(int(c.chat_id or 0), c.params["reply_parameters"]["message_id"])] for c in photos]
        per_chat = collections.Counter(int(c.chat_id or 0) for c in photos)
        await asyncio.sleep(0.5)  # a job is closed just after its photo is sent
        jobs = done_jobs(database_url)
        spread = {w.name: len(statuses) for w, statuses in zip(running, proxy.sent.values(), strict=True)}
    finally:
        if proxy is not None:
            await proxy.stop()
        codes = [await stop_worker(worker) for worker in running]
        await fake.stop()
        await agnes.stop()
    seconds = finished - started
    return {
        "workers": workers,
        "updates": updates,
        "chats": chats,
        "photos": len(photos),
        # Each update's photo once, and the store charged exactly the delivered ones (the warm-up's aside).
        "exactly_once": per_chat == sent and (jobs is None or jobs - workers == len(photos)),
        "done_jobs": None if jobs is None else jobs - workers,
        "updates_per_worker": spread,
        "seconds": round(seconds, 2),
        "images_per_s": round(len(photos) / seconds, 1),
        "latency_median_s": round(statistics.median(latencies), 3),
        "latency_p90_s": round(percentile(latencies, 90), 3),
        "latency_max_s": round(max(latencies), 3),
        # Where the time goes: updates in, provider calls out, photos back.
        "last_update_posted_s": round(max(offered.values()) - started, 2),
        "last_provider_call_s": round(max(asked) - started, 2),
        "exit_codes": codes,
    }


async def warm_up(fake: FakeTelegram, proxy_url: str, secret: str, chat: int, workers: int) -> None:
    """One job per worker first (connections, lazy imports), in a chat of its own."""
    mark = fake.mark()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for number in range(workers):
            update = fake.push_message(chat - number, "/imagine warm-up")
            async with http.post(proxy_url, json=update, headers={SECRET_HEADER: secret}) as answer:
                assert answer.status == 200
    await fake.wait_for("sendPhoto", since=mark, count=workers, timeout=60)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--chats", type=int, nargs="+", default=[50, 200], help="one load per value")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--database-url", help="postgresql://... to share instead of a fresh SQLite file per run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        for chats in args.chats:
            runs = []
            for workers in (1, 2):
                workdir = Path(tmp) / f"chats{chats}-workers{workers}"
                workdir.mkdir()
                database_url = args.database_url or f"sqlite:///{workdir}/shared.db"
                # Chats of their own on a kept database, so earlier runs' quotas and rate limits do not count.
                first_chat = 100_000 + len(loads) * 20_000 + workers * 5_000 + int(time.time()) % 100 * 50_000
                result = await run(workers, args.updates, chats, first_chat, database_url, workdir, args.latency)
                runs.append(result)
                print(
                    f"{workers} worker(s), {args.updates} /imagine from {chats} chats, upstream {args.latency} s: "
                    f"{result['images_per_s']} images/s ({result['photos']} photos in {result['seconds']} s), "
                    f"update -> photo median {result['latency_median_s']} s, p90 {result['latency_p90_s']} s, "
                    f"max {result['latency_max_s']} s; delivered exactly once: {result['exactly_once']}; "
                    f"updates per worker {result['updates_per_worker']}"
                )
            ratio = runs[1]["images_per_s"] / runs[0]["images_per_s"]
            print(f"  throughput ratio, 2 workers / 1: {ratio:.2f}")
            loads.append({"chats": chats, "ratio": round(ratio, 2), "runs": runs})
    database = "postgresql" if args.database_url else "sqlite"
    print(json.dumps({"database": database, "updates": args.updates, "latency_s": args.latency, "loads": loads}))


if __name__ == "__main__":
    asyncio.run(main())
