"""One path for every generation: access -> validate -> moderate the prompt and inputs -> admit (rate
limit) -> reserve quota -> provider call with timeout and progress -> check -> moderate the result ->
deliver (or withhold, or hold for review) -> commit, or refund on any failure."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.admission import IMAGES_OFF, admit
from bot.captions import result_caption
from bot.clock import MONOTONIC, Clock
from bot.config import Settings
from bot.delivery import deliver_within
from bot.failures import CANCELLED, failure_detail, image_failure
from bot.images import ImageLimits, ImageRejected, check_result_image
from bot.messages import Action, Delivery, Progress, Reply, Request, ResultImage, ScopeKind
from bot.moderation.gate import Moderation, Outcome, ResultCheck
from bot.moderation.policy import Use
from bot.moderation.review import ReviewQueue
from bot.preparation import JobSpec, Prepared, Preparer, Refused
from bot.providers.base import ImageJob, ProviderProgress
from bot.providers.catalogue import Catalogue, UnknownModel
from bot.ratelimit import RateLimiter
from bot.redaction import secrets_of
from bot.results import ResultFiles
from bot.scope_limits import ScopeLimits
from bot.sizes import format_size
from bot.store import Store
from bot.store.jobs import JobStatus
from bot.store.quotas import NewJob, QuotaLimits
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RESULT_ACTIONS = [Action.REROLL, Action.VARY, Action.EDIT]
INTERRUPTED = "⚠️ The bot is restarting and this image job was cut off: you were not charged. Please try again."
INTERRUPTED_SEND_SECONDS = 5.0
# How long a button pressed at the instant its result arrived waits for that job to commit.
SETTLE_SECONDS = 10.0


@dataclass
class _Running:
    task: asyncio.Task
    scope_key: str
    user_key: str
    cancelled_by_user: bool = False
    committed: bool = False  # done and charged, still at work (a review being posted): no longer cancellable


class JobRunner:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        catalogue: Catalogue,
        limiter: RateLimiter,
        results: ResultFiles,
        scope_limits: ScopeLimits,
        image_limits: ImageLimits,
        moderation: Moderation,
        reviews: ReviewQueue,
    ) -> None:
        self._settings = settings
        self._moderation = moderation
        self._reviews = reviews
        self._store = store
        self._catalogue = catalogue
        self._limiter = limiter
        self._results = results
        self._scope_limits = scope_limits
        self._running: dict[str, _Running] = {}
        self._image_limits = image_limits
        self._result_limits = ImageLimits.for_results(settings)
        self._secrets = secrets_of(settings)  # an upstream may echo a key: none is kept or shown
        self._preparer = Preparer(settings, catalogue, scope_limits, image_limits)
        self.clock: Clock = MONOTONIC  # what the delivery deadline reads; tests drive their own

    async def run(self, request: Request, spec: JobSpec, reply: Reply) -> str | None:
        """Run one generation to the end. Returns the job id when images were delivered."""
        prepared = await self._admitted(request, spec, reply)
        if prepared is None:
            return None
        limits = await self._scope_limits.for_scope(request.scope)
        noting = _NotingReply(reply)
        if not await admit(self._limiter, request, limits, noting):
            if noting.said is not None:  # said, not dropped silently: worth a line in the audit log
                await self._moderation.refused(request, "quota" if noting.said == IMAGES_OFF else "rate", noting.said)
            return None
        job_id = uuid.uuid4().hex[:16]
        job, model = prepared.job, prepared.model
        job.idempotency_key = f"atelier-{job_id}"
        quota = QuotaLimits(
            per_user=limits.images_per_user,
            per_scope=limits.images_per_scope if request.scope.kind == ScopeKind.GUILD else None,
        )
        refusal = await self._store.quotas.reserve(
            NewJob(
                id=job_id,
                kind=spec.kind,
                user_key=request.user.key,
                user_name=request.user.name,
                scope_key=request.scope.key,
                conversation=request.conversation,
                prompt=job.prompt,
                params={**spec.params.to_json(), **_resolved(job), "model": model.qualified},
                provider=model.provider,
                images=job.count,
                parent_id=spec.parent_id,
                origin=request.origin,
            ),
            quota,
        )
        if refusal is not None:
            self._limiter.forget_last(request.asker)
            await reply.send_error(refusal.message)
            await self._moderation.refused(request, "quota", refusal.message)
            return None
        task = asyncio.create_task(self._execute(job_id, request, prepared, reply))
        self._running[job_id] = _Running(task, request.scope.key, request.user.key)
        task.add_done_callback(lambda _: self._running.pop(job_id, None))
        # Shielded: if the caller goes away (an adapter stopping), the job still finishes or refunds.
        return await asyncio.shield(task)

    async def _admitted(self, request: Request, spec: JobSpec, reply: Reply) -> Prepared | None:
        """Access, validation, then moderation of what was asked: the prepared job, or None (the user told).
        All before the rate limit and the charge: a refused prompt costs nothing and reaches no provider.
        Buttons (Reroll, Vary, Edit) come through here too, so they meet the scope's terms of today."""
        refusal = await self._moderation.access(request, Use.IMAGES)
        if refusal is not None:
            await reply.send_error(refusal)
            return None
        try:
            prepared = await self._preparer.prepare(request, spec)
        except (Refused, ImageRejected, UnknownModel) as exc:
            await reply.send_error(str(exc))
            return None
        # The negative prompt is matched against the blocklists only (the caption may show it): it lists
        # what to keep out, so the model would flag `--no gore` for the very words it avoids.
        negative = spec.params.negative_prompt or ""
        refusal = await self._moderation.screen(
            request, Use.IMAGES, prepared.job.prompt, prepared.job.images, listed_only=negative
        )
        if refusal is not None:
            await reply.send_error(refusal)
            return None
        return prepared

    async def _execute(self, job_id: str, request: Request, prepared: Prepared, reply: Reply) -> str | None:
        job = prepared.job
        started = time.monotonic()
        latest = ProviderProgress()

        async def report(update: ProviderProgress) -> None:
            nonlocal latest
            latest = update
            with contextlib.suppress(Exception):
                await reply.progress(_progress(job_id, started, latest))

        ticker = asyncio.create_task(self._tick(job_id, started, lambda: latest, reply))
        try:
            async with asyncio.timeout(self._settings.provider_deadline_seconds):
                raw_images = await prepared.provider.generate(job, report)
            images = [await check_result_image(data, self._result_limits) for data in raw_images]
            if not images:
                raise ImageRejected("no images")
            await cancel_and_wait(ticker)
            check = await self._moderation.check_result(request, job_id, job.prompt, images)
            if check.outcome in (Outcome.WITHHOLD, Outcome.REVIEW):
                await self._keep_back(job_id, request, prepared, images, check, reply)
                return None
            kept, ref = await self._deliver(job_id, prepared, images, reply, spoiler=check.outcome is Outcome.SPOILER)
        except asyncio.CancelledError:
            running = self._running.get(job_id)
            by_user = running is not None and running.cancelled_by_user
            # Shielded: a second cancel (a shutdown during a user's cancel) must not leave the job charged.
            await asyncio.shield(
                self._store.quotas.refund(job_id, JobStatus.CANCELLED, "cancelled" if by_user else "shutdown")
            )
            if by_user:
                await cancel_and_wait(ticker)
                await _quietly(reply.clear_progress())
                await _quietly(reply.send_error(CANCELLED))
                return None
            # Cut off by a shutdown: the platform session is still open (adapters close after the drain).
            await cancel_and_wait(ticker)
            await _quietly(reply.clear_progress())
            await _quietly(asyncio.wait_for(reply.send_error(INTERRUPTED), INTERRUPTED_SEND_SECONDS))
            raise
        except Exception as exc:
            detail = failure_detail(exc, self._secrets)
            log.warning("job %s failed: %s", job_id, detail)
            await asyncio.shield(self._store.quotas.refund(job_id, JobStatus.FAILED, detail))
            await cancel_and_wait(ticker)
            await _quietly(reply.clear_progress())
            await _quietly(reply.send_error(image_failure(exc, self._secrets)))
            return None
        finally:
            # Every exit, shutdown included: no ticker left running, no "Working… / Cancel" left behind.
            await cancel_and_wait(ticker)
            await _quietly(reply.clear_progress())
        # Shielded: the images are delivered, so a cancel arriving now must not leave the job "running".
        await asyncio.shield(self._store.quotas.commit(job_id, kept))
        try:
            if ref is not None:  # what a moderator's Delete removes
                await self._store.jobs.note_posted(job_id, ref)
            await self._moderation.generated(request, job_id, job.prompt, check.verdict)
        except Exception as exc:  # the user has the images; a missing audit line must not turn into an error
            log.warning("job %s: could not note its delivery: %r", job_id, exc)
        return job_id

    async def _keep_back(
        self,
        job_id: str,
        request: Request,
        prepared: Prepared,
        images: list[ResultImage],
        check: ResultCheck,
        reply: Reply,
    ) -> None:
        """A result that is not posted here: withheld by moderation, or sent to the review queue."""
        job = prepared.job
        await _quietly(reply.clear_progress())
        if not check.charge:  # moderation failed (our side): nothing is shown and nothing charged
            await asyncio.shield(self._store.quotas.refund(job_id, JobStatus.FAILED, "moderation unavailable"))
            await _quietly(reply.send_error(check.message))
            return
        # Made and paid for: the job is done and charged, its files kept for moderators to see or approve
        # (committed before the review is posted, so an Approve finds them).
        files, inputs, masks = await self._save_files(job_id, images, job.images, job.mask)
        await asyncio.shield(self._store.quotas.commit(job_id, _kept(files, inputs, masks, images)))
        if (running := self._running.get(job_id)) is not None:
            running.committed = True  # a Cancel now would claim a refund that is not coming
        if check.outcome is Outcome.WITHHOLD:
            await _quietly(reply.send_error(check.message))
            return
        caption = result_caption(job, prepared.model, images, prepared.notes)
        try:
            held = await self._reviews.hold(request, Delivery(job_id, images, caption, list(RESULT_ACTIONS)))
        except Exception as exc:  # charged already: withheld, never "nothing was charged"
            log.warning("job %s: could not hold it for review: %r", job_id, exc)
            held = None
        if held is None:
            await _quietly(reply.send_error(await self._moderation.unreviewed(request, job_id, job.prompt)))
            return
        await self._moderation.held(request, job_id, job.prompt)
        await _quietly(reply.send_text(held))

    async def _deliver(
        self, job_id: str, prepared: Prepared, images: list[ResultImage], reply: Reply, *, spoiler: bool = False
    ) -> tuple[dict, str | None]:
        """Upload the images; returns what the job row keeps (its files, for the buttons) and the adapter's
        ref of the posted message."""
        job = prepared.job
        # Kept on disk for the buttons, written while the images travel to the user.
        saving = asyncio.ensure_future(self._save_files(job_id, images, job.images, job.mask))
        try:
            await reply.clear_progress()
            caption = result_caption(job, prepared.model, images, prepared.notes)
            delivery = Delivery(job_id, images, caption, list(RESULT_ACTIONS), spoiler=spoiler)
            ref = await deliver_within(
                self.clock, self._settings.delivery_deadline_seconds, reply.send_images(delivery)
            )
        except BaseException:
            files, inputs, masks = await asyncio.shield(saving)  # never raises
            await self._results.delete(files + inputs + masks)  # an undelivered job keeps nothing
            raise
        files, inputs, masks = await saving
        return _kept(files, inputs, masks, images), ref

    async def _save_files(
        self, job_id: str, results: list[ResultImage], inputs: list[bytes], mask: bytes | None
    ) -> tuple[list[str], list[str], list[str]]:
        """Never raises: a full disk costs the buttons (they will say the result expired), not the image."""
        try:
            outputs = await self._results.save(job_id, "out", list(results))
            kept_inputs = await self._results.save(job_id, "in", inputs)
            return outputs, kept_inputs, await self._results.save(job_id, "mask", [mask] if mask else [])
        except OSError as exc:
            log.warning("job %s: could not keep its images for the buttons: %s", job_id, exc)
            return [], [], []

    async def _tick(self, job_id: str, started: float, latest: Callable[[], ProviderProgress], reply: Reply) -> None:
        """Elapsed time once a second, so a user always sees the job is alive."""
        with contextlib.suppress(Exception):
            while True:
                await reply.progress(_progress(job_id, started, latest()))
                await asyncio.sleep(1.0)

    def cancel_for(self, scope_key: str, user_key: str) -> int:
        """Cancel this user's running jobs in this scope. Returns how many were stopped."""
        count = 0
        for running in self._running.values():
            if running.scope_key == scope_key and running.user_key == user_key and _cancel_once(running):
                count += 1
        return count

    def cancel_job(self, job_id: str, user_key: str) -> bool:
        running = self._running.get(job_id)
        if running is None or running.user_key != user_key:
            return False
        return _cancel_once(running)

    async def drain(self, timeout: float) -> None:
        """At shutdown: let running jobs finish for `timeout` seconds, then cancel (and so refund) the rest."""
        tasks = [r.task for r in self._running.values() if not r.task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _settled(self, job_id: str) -> None:
        """A button pressed the instant its result arrived: let the job finish committing first.
        Waits without taking on the job's outcome, and without hiding our own cancellation."""
        running = self._running.get(job_id)
        if running is not None:
            await asyncio.wait([running.task], timeout=SETTLE_SECONDS)

    async def result_images(self, job_id: str) -> list[bytes] | None:
        await self._settled(job_id)
        record = await self._store.jobs.get(job_id)
        if record is None or record.status != JobStatus.DONE or not record.result:
            return None
        return await self._results.load(record.result.get("files", []))

    async def input_images(self, job_id: str) -> tuple[list[bytes], bytes | None]:
        """The images (and mask) a job was given, for Reroll."""
        await self._settled(job_id)
        record = await self._store.jobs.get(job_id)
        if record is None or not record.result:
            return [], None
        inputs = await self._results.load(record.result.get("inputs", [])) or []
        masks = await self._results.load(record.result.get("masks", [])) or []
        return inputs, masks[0] if masks else None


def _kept(files: list[str], inputs: list[str], masks: list[str], images: list[ResultImage]) -> dict:
    """What a finished job's row keeps: its files, for the buttons and for moderators."""
    return {"files": files, "inputs": inputs, "masks": masks, "sizes": [f"{i.width}x{i.height}" for i in images]}


class _NotingReply(Reply):
    """Passes refusals on to the user and remembers the last, so the job path can audit what was said."""

    def __init__(self, reply: Reply) -> None:
        self._reply = reply
        self.said: str | None = None

    async def send_text(self, text: str) -> None:
        await self._reply.send_text(text)

    async def send_error(self, text: str) -> None:
        self.said = text
        await self._reply.send_error(text)


def _resolved(job: ImageJob) -> dict:
    """What the job really asks, kept with it: Reroll repeats it, and refuses when its inputs are gone."""
    return {"size": format_size(job.size), "inputs": len(job.images), "mask": job.mask is not None}


def _cancel_once(running: _Running) -> bool:
    """Cancel a job the user stops; a second press or /cancel while it refunds does nothing."""
    if running.task.done() or running.cancelled_by_user or running.committed:
        return False
    running.cancelled_by_user = True
    running.task.cancel()
    return True


def new_seed() -> int:
    return random.randint(0, 2**32 - 1)


def _progress(job_id: str, started: float, latest: ProviderProgress) -> Progress:
    return Progress(job_id, time.monotonic() - started, latest.stage, latest.percent, latest.queue_position)


async def _quietly(awaitable: Awaitable[object]) -> None:
    """Tell the user what happened, but never let a failing reply mask the original failure."""
    try:
        await awaitable
    except Exception as exc:
        log.warning("could not send a reply: %r", exc)
