"""Row retention: usage counters, finished jobs, chat history and message links past their time are
deleted, recent ones stay, and every deletion is found through an index (EXPLAIN QUERY PLAN)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bot.providers.base import ChatMessage
from bot.store import Store
from bot.store.jobs import JobKind
from bot.store.quotas import NewJob, QuotaLimits, utc_day
from bot.store.retention import STATEMENTS, Retention, prune_rows

GUILD = "test:guild:g1"
DAY = 86400


async def finished_job(store: Store, job_id: str, days_ago: float, files: list[str] | None = None) -> None:
    job = NewJob(job_id, JobKind.IMAGINE, "test:u1", "u", GUILD, "c", "p", {}, "agnes", 1)
    assert await store.quotas.reserve(job, QuotaLimits(100, 100)) is None
    await store.quotas.commit(job_id, {"files": files or []})
    await store.db.execute("UPDATE jobs SET finished_at = ? WHERE id = ?", (time.time() - days_ago * DAY, job_id))


async def age(store: Store, table: str, column: str, key: str, value: str, days_ago: float) -> None:
    await store.db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (time.time() - days_ago * DAY, value))


async def test_rows_past_retention_go_and_recent_ones_stay(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "atelier.db")
    try:
        old_day, today = utc_day(time.time() - 40 * DAY), utc_day()
        await store.db.execute(
            "INSERT INTO usage(counter, day, used) VALUES ('user:x', ?, 3), ('user:x', ?, 1)", (old_day, today)
        )
        await finished_job(store, "old", days_ago=40)
        await finished_job(store, "old-with-files", days_ago=40, files=["old-with-files-out0"])
        await finished_job(store, "fortnight", days_ago=20)  # files gone, row kept for the usage reports
        await finished_job(store, "recent", days_ago=1)
        await store.conversations.append("stale", ChatMessage("user", "long ago"))
        await store.db.execute("UPDATE conversation_messages SET created_at = ?", (time.time() - 40 * DAY,))
        await store.conversations.append("live", ChatMessage("user", "today"))
        links = {
            "to-old-job": {"job_id": "old"},
            "to-recent-job": {"job_id": "recent"},
            "to-stale-chat": {"conversation": "stale"},
            "to-live-chat": {"conversation": "live"},
        }
        for key, target in links.items():
            await store.conversations.link_message(key, **target)
            await age(store, "message_links", "created_at", "message_key", key, days_ago=40)
        await store.conversations.link_message("new-link", conversation="stale")

        pruned = await prune_rows(store.db, Retention(jobs_days=14, chat_days=30))

        days = [r["day"] for r in await store.db.fetchall("SELECT day FROM usage WHERE counter = 'user:x'")]
        assert days == [today]
        jobs = {row["id"] for row in await store.db.fetchall("SELECT id FROM jobs")}
        assert jobs == {"old-with-files", "fortnight", "recent"}  # files go first (prune_results), then the row
        assert await store.conversations.history("stale") == []
        assert await store.conversations.history("live") == [ChatMessage("user", "today")]
        kept = {row["message_key"] for row in await store.db.fetchall("SELECT message_key FROM message_links")}
        assert kept == {"to-recent-job", "to-live-chat", "new-link"}
        assert (pruned.usage, pruned.jobs, pruned.conversation_messages, pruned.message_links) == (1, 1, 1, 2)

        # Once its files are gone, the old job's row goes too.
        ((job_id, names),) = await store.jobs.expired_result_files(14)
        assert (job_id, names) == ("old-with-files", ["old-with-files-out0"])
        await store.jobs.forget_result_files([job_id])
        assert (await prune_rows(store.db, Retention(14, 30))).jobs == 1
    finally:
        await store.close()


async def test_every_prune_finds_its_rows_through_an_index(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "atelier.db")
    try:
        queries = {name: sql for name, sql in STATEMENTS.items()}
        queries["result files"] = (
            "SELECT id, result FROM jobs WHERE has_files = 1 AND finished_at < ? ORDER BY finished_at LIMIT ?"
        )
        for name, sql in queries.items():
            plan = [row["detail"] for row in await store.db.fetchall("EXPLAIN QUERY PLAN " + sql, (0, 10))]
            assert not any(step.startswith("SCAN") for step in plan), (name, plan)
            assert any("USING" in step and "INDEX" in step for step in plan), (name, plan)
        plan = [r["detail"] for r in await store.db.fetchall("EXPLAIN QUERY PLAN " + queries["result files"], (0, 1))]
        assert plan == ["SEARCH jobs USING INDEX jobs_finished (has_files=? AND finished_at<?)"]
    finally:
        await store.close()


async def test_the_upgrade_flags_old_jobs_that_keep_files(tmp_path: Path) -> None:
    """Rows from before migration 3 are found by the flag, not by a LIKE on their JSON."""
    import sqlite3

    from bot.store.db import MIGRATIONS

    path = tmp_path / "atelier.db"
    with sqlite3.connect(path, isolation_level=None) as db:
        db.executescript(f"BEGIN;\n{MIGRATIONS[0]}\n{MIGRATIONS[1]}\nPRAGMA user_version=2;\nCOMMIT;")
        for job_id, result in (("with", {"files": ["a"]}), ("without", {"files": []}), ("inputs", {"inputs": ["b"]})):
            db.execute(
                "INSERT INTO jobs(id, kind, user_key, user_name, scope_key, conversation, prompt, params, provider, "
                "images, day, status, user_limit, scope_limit, result, created_at, finished_at) VALUES "
                "(?, 'imagine', 'u', 'u', 's', 'c', 'p', '{}', 'agnes', 0, '2020-01-01', 'done', 9, NULL, ?, 0, 0)",
                (job_id, json.dumps(result)),
            )
    store = await Store.open(path)
    try:
        expired = dict(await store.jobs.expired_result_files(14))
        assert expired == {"with": ["a"], "inputs": ["b"]}
    finally:
        await store.close()


async def test_housekeeping_deletes_chat_images_unused_past_the_chat_retention(tmp_path: Path) -> None:
    from bot.conversation_images import ConversationImages, Picture
    from bot.housekeeping import prune
    from bot.results import ResultFiles

    store = await Store.open(tmp_path / "atelier.db")
    results = ResultFiles(tmp_path / "results")
    try:
        pictures = ConversationImages(results)
        [old] = await pictures.keep("telegram:1", [Picture(b"\x89PNG old", "image/png")])
        [recent] = await pictures.keep("telegram:1", [Picture(b"\x89PNG recent", "image/png")])
        stale = time.time() - 31 * DAY
        os.utime(tmp_path / "results" / old, (stale, stale))

        await prune(store, results, Retention(jobs_days=14, chat_days=30))

        assert not (tmp_path / "results" / old).exists()
        assert (tmp_path / "results" / recent).is_file()
    finally:
        await store.close()
