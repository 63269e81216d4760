"""What a bot that runs for weeks must do now and then: delete result images past retention, and the
rows (usage counters, finished jobs, chat history, message links, the moderation audit log, decided
reviews, and rate-limit rows a minute past use) past theirs."""

from __future__ import annotations

import logging

from bot.conversation_images import ConversationImages
from bot.results import ResultFiles
from bot.store import Store
from bot.store.retention import Retention, prune_rows

log = logging.getLogger(__name__)


async def prune_results(store: Store, results: ResultFiles, days: int) -> int:
    """Delete image files kept for buttons past their retention. Returns how many jobs lost theirs."""
    total = 0
    while expired := await store.jobs.expired_result_files(days):
        await results.delete([name for _, names in expired for name in names])
        await store.jobs.forget_result_files([job_id for job_id, _ in expired])
        total += len(expired)
    return total


async def prune(store: Store, results: ResultFiles, retention: Retention) -> None:
    """Files first: a job row goes only once its files have."""
    await prune_results(store, results, retention.jobs_days)
    pruned = await prune_rows(store.db, retention)
    if any(vars(pruned).values()):
        log.info("pruned rows past retention: %s", pruned)
    # Chat images go with the history that named them (a file kept again is renewed, so a live one stays).
    pictures = await ConversationImages(results).prune(retention.chat_days)
    if pictures:
        log.info("pruned %d chat image file(s) past retention", pictures)
