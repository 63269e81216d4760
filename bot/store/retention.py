"""Row retention: usage counters, finished jobs, chat history, message links, the moderation audit log,
decided reviews and spent rate-limit rows past their time go, in small batches (each one short autocommit
statement, so other writers never wait long), each found through an index rather than a scan."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.store.db import Database
from bot.store.quotas import utc_day
from bot.store.rates import WINDOW_SECONDS

# A month and a bit of daily counters, job rows (without their files) and chat turns: `/usage chart` draws
# 30 days, `/usage export` lists them.
USAGE_RETENTION_DAYS = 35
# The moderation audit log (`/mod log`): a quarter of a year, enough to look back on an incident.
AUDIT_RETENTION_DAYS = 90
BATCH = 500
DAY = 86400


@dataclass(frozen=True)
class Retention:
    jobs_days: int  # finished jobs' files and the links to them (RESULT_RETENTION_DAYS); rows: see usage_days
    chat_days: int  # chat history and the links to its conversations (CHAT_HISTORY_RETENTION_DAYS)
    usage_days: int = USAGE_RETENTION_DAYS  # usage counters, chat turns, and job rows if jobs_days is shorter
    audit_days: int = AUDIT_RETENTION_DAYS  # the moderation audit log; decided reviews go with jobs_days


@dataclass(frozen=True)
class Pruned:
    usage: int = 0
    jobs: int = 0
    conversation_messages: int = 0
    message_links: int = 0
    audit: int = 0
    reviews: int = 0
    rates: int = 0
    ideas: int = 0
    chat_turns: int = 0


# Each statement deletes one batch; `?` is the cutoff, then the batch size. Jobs still keeping files
# are left for prune_results, which deletes the files first.
STATEMENTS = {
    "usage": "DELETE FROM usage WHERE (counter, day) IN (SELECT counter, day FROM usage WHERE day < ? LIMIT ?)",
    "jobs": "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE finished_at < ? AND has_files = 0 LIMIT ?)",
    "conversation_messages": "DELETE FROM conversation_messages WHERE id IN "
    "(SELECT id FROM conversation_messages WHERE created_at < ? LIMIT ?)",
    # A link to a job goes with the job; a link to a conversation goes once its history has gone.
    "job_links": "DELETE FROM message_links WHERE message_key IN (SELECT message_key FROM message_links "
    "WHERE created_at < ? AND job_id IS NOT NULL AND job_id NOT IN (SELECT id FROM jobs) LIMIT ?)",
    "conversation_links": "DELETE FROM message_links WHERE message_key IN (SELECT message_key FROM message_links "
    "WHERE created_at < ? AND job_id IS NULL AND conversation NOT IN "
    "(SELECT conversation FROM conversation_messages) LIMIT ?)",
    "audit": "DELETE FROM mod_audit WHERE id IN (SELECT id FROM mod_audit WHERE at < ? LIMIT ?)",
    # Pending reviews stay, however old: a moderator may still decide them.
    "reviews": "DELETE FROM mod_reviews WHERE id IN "
    "(SELECT id FROM mod_reviews WHERE decided_at IS NOT NULL AND decided_at < ? LIMIT ?)",
    # A rate row whose tat has passed is as good as none, once its "slow down" (told_at) is a minute old too.
    "chat_turns": "DELETE FROM chat_turns WHERE id IN (SELECT id FROM chat_turns WHERE at < ? LIMIT ?)",
    "ideas": "DELETE FROM prompt_ideas WHERE id IN (SELECT id FROM prompt_ideas WHERE created_at < ? LIMIT ?)",
    "rates": "DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits "
    f"WHERE tat < ?1 AND coalesce(told_at, 0) <= ?1 - {WINDOW_SECONDS} LIMIT ?2)",
}


async def _delete_batches(db: Database, sql: str, cutoff: float | str) -> int:
    total = 0
    while True:
        cursor = await db.execute(sql, (cutoff, BATCH))
        total += max(cursor.rowcount, 0)
        if cursor.rowcount < BATCH:
            return total


async def prune_rows(db: Database, retention: Retention, now: float | None = None) -> Pruned:
    """Delete rows past retention. Returns how many of each went."""
    now = time.time() if now is None else now
    usage_day = utc_day(now - retention.usage_days * DAY)
    jobs_cutoff, chat_cutoff = now - retention.jobs_days * DAY, now - retention.chat_days * DAY
    usage = await _delete_batches(db, STATEMENTS["usage"], usage_day)
    # A job's row outlives its files for the usage reports: it holds no image, only who asked what, when.
    rows_cutoff = min(jobs_cutoff, now - retention.usage_days * DAY)
    jobs = await _delete_batches(db, STATEMENTS["jobs"], rows_cutoff)
    messages = await _delete_batches(db, STATEMENTS["conversation_messages"], chat_cutoff)
    links = await _delete_batches(db, STATEMENTS["job_links"], jobs_cutoff)
    links += await _delete_batches(db, STATEMENTS["conversation_links"], chat_cutoff)
    audit = await _delete_batches(db, STATEMENTS["audit"], now - retention.audit_days * DAY)
    reviews = await _delete_batches(db, STATEMENTS["reviews"], jobs_cutoff)
    rates = await _delete_batches(db, STATEMENTS["rates"], now)
    ideas = await _delete_batches(db, STATEMENTS["ideas"], jobs_cutoff)  # kept as long as results are
    turns = await _delete_batches(db, STATEMENTS["chat_turns"], now - retention.usage_days * DAY)
    return Pruned(usage, jobs, messages, links, audit, reviews, rates, ideas, turns)
