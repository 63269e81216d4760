"""What becomes of a result moderation keeps back from the chat: withheld (made, so charged), held for
the moderators' review (charged, posted once approved), or refunded when moderation could not check it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.kept_files import KeptFiles
from bot.messages import Delivery, Reply, Request, ResultImage
from bot.metrics import JobOutcome
from bot.moderation.gate import Moderation, Outcome, ResultCheck
from bot.moderation.review import ReviewQueue
from bot.providers.base import ImageJob
from bot.store import Store
from bot.store.jobs import JobStatus

log = logging.getLogger(__name__)


class KeptBack:
    def __init__(self, store: Store, files: KeptFiles, moderation: Moderation, reviews: ReviewQueue) -> None:
        self._store = store
        self._files = files
        self._moderation = moderation
        self._reviews = reviews

    async def handle(
        self,
        request: Request,
        job: ImageJob,
        images: list[ResultImage],
        result: Delivery,
        check: ResultCheck,
        reply: Reply,
        charged: Callable[[], None],
    ) -> JobOutcome:
        """`images` are what the model made, `result` what would have been posted (a grid: one picture of
        them); `charged` is called once the job is done and charged (from then on a Cancel would claim a
        refund that is not coming). Returns how the job ended."""
        job_id = result.job_id
        await quietly(reply.clear_progress())
        if not check.charge:  # moderation failed (our side): nothing is shown and nothing charged
            await asyncio.shield(self._store.quotas.refund(job_id, JobStatus.FAILED, "moderation unavailable"))
            await quietly(reply.send_error(check.message))
            return JobOutcome.REFUNDED
        # Made and paid for: the job is done and charged, its files kept for moderators to see or approve
        # (committed before the review is posted, so an Approve finds them, and a grid's U/V buttons after it).
        saved = await self._files.save(job_id, images, job.images, job.mask)
        await asyncio.shield(self._store.quotas.commit(job_id, saved.record(images)))
        charged()
        if check.outcome is Outcome.WITHHOLD:
            await quietly(reply.send_error(check.message))
            return JobOutcome.WITHHELD
        try:
            held = await self._reviews.hold(request, result)
        except Exception as exc:  # charged already: withheld, never "nothing was charged"
            log.warning("job %s: could not hold it for review: %r", job_id, exc)
            held = None
        if held is None:
            await quietly(reply.send_error(await self._moderation.unreviewed(request, job_id, job.prompt)))
            return JobOutcome.WITHHELD
        await self._moderation.held(request, job_id, job.prompt)
        await quietly(reply.send_text(held))
        return JobOutcome.HELD


async def quietly(awaitable: Awaitable[object]) -> None:
    """Tell the user what happened, but never let a failing reply mask the original failure."""
    try:
        await awaitable
    except Exception as exc:
        log.warning("could not send a reply: %r", exc)
