"""Quota race: OS processes, each with its own Store on one database, race to reserve a quota of 10 with 50
requests in all (all at once, each process gathering its share). The quota triggers must grant exactly 10.

    python bench/quota_race.py [--processes 2] [--requests 50] [--quota 10] [--postgres URL | --postgres start]

Runs SQLite (WAL, a temp file) and, with --postgres, PostgreSQL: a given URL (its database should be empty or
an Atelier one: the jobs table is cleared), or `start` for a throwaway cluster (tests/pg_server.py). Two races
each: one user asking 50 times (the user's quota), 50 members of one server (the server's quota). Prints the
grants and the wall time from the start signal to the last answer; the last line is JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.store import Store
from bot.store.jobs import JobKind
from bot.store.quotas import NewJob, QuotaLimits

GUILD = "bench:guild:g1"


def limits_and_users(mode: str, quota: int, count: int, offset: int) -> tuple[QuotaLimits, list[str]]:
    if mode == "user":
        return QuotaLimits(per_user=quota, per_scope=None), ["bench:u1"] * count
    return QuotaLimits(per_user=10**6, per_scope=quota), [f"bench:u{offset + i}" for i in range(count)]


async def race(target: str, mode: str, quota: int, count: int, offset: int, ready, go) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    store = await Store.open(target, checkpoint_every=None)
    try:
        limits, users = limits_and_users(mode, quota, count, offset)
        jobs = [NewJob(uuid.uuid4().hex, JobKind.IMAGINE, user, "u", GUILD, "c", "p", {}, "bench", 1) for user in users]
        # Connections open before the start signal (PostgreSQL's pool opens them as concurrent calls need them).
        await asyncio.gather(*(store.quotas.usage(GUILD, users[0]) for _ in range(10)))
        ready.set()
        await asyncio.to_thread(go.wait)
        refusals = await asyncio.gather(*(store.quotas.reserve(job, limits) for job in jobs))
        return sum(refusal is None for refusal in refusals), time.perf_counter()
    finally:
        await store.close()


def worker(target: str, mode: str, quota: int, count: int, offset: int, ready, go, results) -> None:  # type: ignore[no-untyped-def]
    results.put(asyncio.run(race(target, mode, quota, count, offset, ready, go)))


async def prepare(target: str) -> None:
    """Migrate once, and clear what an earlier run left."""
    store = await Store.open(target, checkpoint_every=None)
    try:
        await store.db.execute("DELETE FROM jobs")
        await store.db.execute("DELETE FROM usage")
    finally:
        await store.close()


async def count_running(target: str) -> int:
    store = await Store.open(target, checkpoint_every=None)
    try:
        row = await store.db.fetchone("SELECT COUNT(*) AS n FROM jobs WHERE status = 'running'")
        return int(row["n"]) if row is not None else 0
    finally:
        await store.close()


def run(target: str, mode: str, processes: int, requests: int, quota: int) -> dict:
    asyncio.run(prepare(target))
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    readies, children = [], []
    share, offset = [requests // processes + (i < requests % processes) for i in range(processes)], 0
    for count in share:
        ready = context.Event()
        child = context.Process(target=worker, args=(target, mode, quota, count, offset, ready, go, results))
        child.start()
        readies.append(ready)
        children.append(child)
        offset += count
    for ready in readies:
        if not ready.wait(60):
            raise RuntimeError("a racing process did not get ready within 60 s")
    started = time.perf_counter()
    go.set()
    answers = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(30)
    granted = sum(granted for granted, _ in answers)
    stored = asyncio.run(count_running(target))
    return {
        "mode": mode,
        "processes": processes,
        "requests": requests,
        "quota": quota,
        "granted": granted,
        "stored_running": stored,
        "exact": granted == stored == quota,
        "wall_ms": round((max(end for _, end in answers) - started) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--quota", type=int, default=10)
    parser.add_argument("--postgres", help="a postgresql:// URL, or `start` for a throwaway cluster")
    args = parser.parse_args()
    report: dict[str, list[dict]] = {}
    cluster = None
    with tempfile.TemporaryDirectory() as folder:
        targets = {"sqlite_wal": f"sqlite:///{folder}/race.db"}
        if args.postgres == "start":
            from tests.pg_server import PgCluster

            cluster = PgCluster().start()
            targets["postgresql"] = cluster.database()
        elif args.postgres:
            targets["postgresql"] = args.postgres
        try:
            for backend, target in targets.items():
                for mode in ("user", "scope"):
                    result = run(target, mode, args.processes, args.requests, args.quota)
                    report.setdefault(backend, []).append(result)
                    quota_of = "one user's" if mode == "user" else "the server's"
                    print(
                        f"{backend:11} {args.processes} processes, {args.requests} requests, {quota_of} quota of "
                        f"{args.quota}: granted {result['granted']} (stored {result['stored_running']}) "
                        f"in {result['wall_ms']} ms{'' if result['exact'] else '  <-- NOT EXACT'}"
                    )
        finally:
            if cluster is not None:
                cluster.stop()
    print(json.dumps(report))
    return 0 if all(result["exact"] for results in report.values() for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
