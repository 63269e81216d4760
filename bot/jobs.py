"""One path for every generation: access -> validate -> moderate the prompt and inputs -> admit (rate
limit) -> reserve quota -> provider call with timeout and progress -> check -> moderate the result ->
deliver (or withhold, or hold for review) -> commit, or refund on any failure."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
import uuid
from collections.abc import Callable

from bot.admission import admit, release
from bot.canvas import Box, restore
from bot.captions import result_caption
from bot.clock import MONOTONIC, Clock
from bot.config import Settings
from bot.delivery import deliver_within
from bot.failures import CANCELLED, failure_detail, image_failure
from bot.grid import compose_grid
from bot.images import ImageLimits, ImageRejected, check_result_image
from bot.kept_back import KeptBack, quietly
from bot.kept_files import KeptFiles
from bot.logs import about_job
from bot.messages import Action, Delivery, Progress, Reply, Request, ResultImage, ScopeKind
from bot.metrics import JobOutcome, Metrics
from bot.moderation.gate import Moderation, Outcome
from bot.moderation.policy import Use
from bot.moderation.review import ReviewQueue
from bot.preparation import JobSpec, Prepared, Preparer, Refused
from bot.prompt_help import PromptHelper
from bot.providers.base import ImageJob, ProgressCallback, ProviderProgress
from bot.providers.catalogue import Catalogue, UnknownModel
from bot.ratelimit import RateLimiter
from bot.redaction import secrets_of
from bot.results import ResultFiles
from bot.running_jobs import RunningJobs
from bot.scope_limits import ScopeLimits
from bot.sizes import format_size
from bot.store import Store
from bot.store.jobs import JobKind, JobStatus
from bot.store.quotas import NewJob, QuotaLimits
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Zoom Out and Pan, offered under the results of models that take a mask (outpainting needs one).
OUTPAINT_ACTIONS = [Action.ZOOM_2, Action.ZOOM_15, Action.PAN_LEFT, Action.PAN_RIGHT, Action.PAN_UP, Action.PAN_DOWN]
INTERRUPTED = "⚠️ The bot is restarting and this image job was cut off: you were not charged. Please try again."
INTERRUPTED_SEND_SECONDS = 5.0
# How often a runner looks for cancels that other processes flagged on its jobs (one query for all of them).
CANCEL_WATCH_SECONDS = 1.0


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
        *,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._moderation = moderation
        self._store = store
        self._catalogue = catalogue
        self._limiter = limiter
        self._files = KeptFiles(store, results)
        self._kept_back = KeptBack(store, self._files, moderation, reviews)
        self._scope_limits = scope_limits
        self._running = RunningJobs()
        self._image_limits = image_limits
        self._result_limits = ImageLimits.for_results(settings)
        self._secrets = secrets_of(settings)  # an upstream may echo a key: none is kept or shown
        self._preparer = Preparer(settings, catalogue, scope_limits, image_limits)
        self._prompt_help = PromptHelper(settings, catalogue)
        self.clock: Clock = MONOTONIC  # what the delivery deadline reads; tests drive their own
        self.watch_clock: Clock = MONOTONIC  # what the watcher of other processes' cancels sleeps on
        self._watcher: asyncio.Task | None = None
        self._latest: dict[str, ProviderProgress] = {}  # what each running job here last reported (`/info`)

    async def run(self, request: Request, spec: JobSpec, reply: Reply) -> str | None:
        """Run one generation to the end. Returns the job id when images were delivered."""
        prepared = await self._admitted(request, spec, reply)
        if prepared is None:
            return None
        limits = await self._scope_limits.for_scope(request.scope)
        admission = await admit(self._limiter, request, limits, reply)
        if not admission.admitted:
            self._ended(prepared, JobOutcome.REFUSED)
            if admission.said is not None:  # said, not dropped silently: worth a line in the audit log
                await self._moderation.refused(request, admission.rule, admission.said)
            return None
        if spec.params.enhance and spec.kind == JobKind.IMAGINE:
            await self._enhance(prepared)  # before the screening: the prompt sent is the one checked
        if not await self._screened(request, spec, prepared, reply):
            self._ended(prepared, JobOutcome.REFUSED)
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
                params={**spec.params.to_json(), **_resolved(prepared), "model": model.qualified},
                provider=model.provider,
                images=job.count,
                parent_id=spec.parent_id,
                origin=request.origin,
            ),
            quota,
        )
        if refusal is not None:
            await release(self._limiter, request, limits)  # nothing spent: the rate is given back too
            await reply.send_error(refusal.message)
            self._metrics.refused(Use.IMAGES, "quota")
            self._ended(prepared, JobOutcome.REFUSED)
            await self._moderation.refused(request, "quota", refusal.message)
            return None
        task = asyncio.create_task(self._execute(job_id, request, prepared, reply))
        self._running.add(job_id, task, request.scope.key, request.user.key)
        self._watch_cancels()
        # Shielded: if the caller goes away (an adapter stopping), the job still finishes or refunds.
        return await asyncio.shield(task)

    def _ended(self, prepared: Prepared, outcome: JobOutcome) -> None:
        self._metrics.job(prepared.model.provider, prepared.model.name, outcome)

    async def _enhance(self, prepared: Prepared) -> None:
        written = prepared.job.prompt
        detailed = await self._prompt_help.enhance(written)
        if detailed is None:
            prepared.notes.append("--enhance: the chat model was unavailable, so your prompt was used as written")
            return
        prepared.job.prompt = detailed
        shown = written if len(written) <= 60 else written[:59] + "…"
        prepared.notes.append(f'prompt detailed from "{shown}" by the chat model (--enhance)')

    async def _admitted(self, request: Request, spec: JobSpec, reply: Reply) -> Prepared | None:
        """Access, then validation: the prepared job, or None (the user told). Buttons (Reroll, Vary,
        Edit) come through here too, so they meet the scope's rules of today."""
        refusal = await self._moderation.access(request, Use.IMAGES)
        if refusal is not None:
            await reply.send_error(refusal)
            return None
        try:
            return await self._preparer.prepare(request, spec)
        except (Refused, ImageRejected, UnknownModel) as exc:
            await reply.send_error(str(exc))
            return None

    async def _screened(self, request: Request, spec: JobSpec, prepared: Prepared, reply: Reply) -> bool:
        """Moderation of what was asked, after the rate limit (so a flood of refused prompts is slowed like
        any other, and cannot flood the moderators' channel or the moderation service) and before the
        charge: a refused prompt costs nothing and reaches no image provider."""
        # The negative prompt is matched against the blocklists only (the caption may show it): it lists
        # what to keep out, so the model would flag `--no gore` for the very words it avoids.
        negative = spec.params.negative_prompt or ""
        refusal = await self._moderation.screen(
            request, Use.IMAGES, prepared.job.prompt, prepared.job.images, listed_only=negative
        )
        if refusal is not None:
            await reply.send_error(refusal)
            return False
        return True

    async def _execute(self, job_id: str, request: Request, prepared: Prepared, reply: Reply) -> str | None:
        about_job(job_id, request.scope.key)  # on every log line of this job's task, the provider's too
        job = prepared.job
        started = time.monotonic()
        latest = ProviderProgress()

        async def report(update: ProviderProgress) -> None:
            nonlocal latest
            latest = self._latest[job_id] = update
            with contextlib.suppress(Exception):
                await reply.progress(_progress(job_id, started, latest))

        ticker = asyncio.create_task(self._tick(job_id, started, lambda: latest, reply))
        try:
            await reply.ready()
            async with asyncio.timeout(self._settings.provider_deadline_seconds):
                images = await self._generate(job_id, prepared, report)
            if prepared.keep is not None:  # Zoom Out, Pan: the kept pixels go back exactly as they were
                images = [await _restored(image, job.images[0], prepared.keep) for image in images]
            await cancel_and_wait(ticker)
            check = await self._moderation.check_result(request, job_id, job.prompt, images)
            if check.outcome in (Outcome.WITHHOLD, Outcome.REVIEW):
                result = await _delivery(job_id, prepared, images)
                outcome = await self._kept_back.handle(
                    request, job, images, result, check, reply, lambda: self._running.charged(job_id)
                )
                self._ended(prepared, outcome)
                return None
            kept, ref = await self._deliver(job_id, prepared, images, reply, spoiler=check.outcome is Outcome.SPOILER)
            del images  # uploaded and on disk: the bytes go before the database round trips that follow
        except asyncio.CancelledError:
            self._ended(prepared, JobOutcome.REFUNDED)
            by_user = self._running.cancelled_by_user(job_id)
            # Shielded: a second cancel (a shutdown during a user's cancel) must not leave the job charged.
            await asyncio.shield(
                self._store.quotas.refund(job_id, JobStatus.CANCELLED, "cancelled" if by_user else "shutdown")
            )
            if by_user:
                await cancel_and_wait(ticker)
                await quietly(reply.clear_progress())
                await quietly(reply.send_error(CANCELLED))
                return None
            # Cut off by a shutdown: the platform session is still open (adapters close after the drain).
            await cancel_and_wait(ticker)
            await quietly(reply.clear_progress())
            await quietly(asyncio.wait_for(reply.send_error(INTERRUPTED), INTERRUPTED_SEND_SECONDS))
            raise
        except Exception as exc:
            detail = failure_detail(exc, self._secrets)
            log.warning("job %s failed: %s", job_id, detail)
            self._ended(prepared, JobOutcome.FAILED)
            await asyncio.shield(self._store.quotas.refund(job_id, JobStatus.FAILED, detail))
            await cancel_and_wait(ticker)
            await quietly(reply.clear_progress())
            await quietly(reply.send_error(image_failure(exc, self._secrets)))
            return None
        finally:
            # Every exit, shutdown included: no ticker left running, no "Working… / Cancel" left behind.
            self._latest.pop(job_id, None)
            await cancel_and_wait(ticker)
            await quietly(reply.clear_progress())
        # Shielded: the images are delivered, so a cancel arriving now must not leave the job "running".
        await asyncio.shield(self._store.quotas.commit(job_id, kept, posted_ref=ref))
        self._ended(prepared, JobOutcome.DONE)
        try:
            await self._moderation.generated(request, job_id, job.prompt, check.verdict)
        except Exception as exc:  # the user has the images; a missing audit line must not turn into an error
            log.warning("job %s: could not note its delivery: %r", job_id, exc)
        return job_id

    async def _generate(self, job_id: str, prepared: Prepared, report: ProgressCallback) -> list[ResultImage]:
        """The job's checked images. A grid the model cannot make in one request is that many requests at
        once (the provider's concurrency limit queues them); images that failed are given back and said."""
        job, caps = prepared.job, prepared.model.capabilities
        if prepared.wording:
            job = dataclasses.replace(job, prompt=f"{prepared.wording} {job.prompt}")
        if job.count <= max(caps.max_images, 1):
            raw = await prepared.provider.generate(job, report)
            images = [await check_result_image(data, self._result_limits) for data in raw[: job.count]]
            if not images:
                raise ImageRejected("no images")
            if len(images) < job.count:
                await self._gave_back(job_id, prepared, len(images), None)
            return images
        singles = [_single(job, number) for number in range(job.count)]
        outcomes = await asyncio.gather(
            *(self._one_image(prepared, single, report) for single in singles), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome  # a cancel or a shutdown: the whole job stops and is refunded
        images = [outcome for outcome in outcomes if isinstance(outcome, ResultImage)]
        failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        if not images:
            raise failures[0]
        if failures:
            await self._gave_back(job_id, prepared, len(images), failures[0])
        return images

    async def _one_image(self, prepared: Prepared, single: ImageJob, report: ProgressCallback) -> ResultImage:
        raw = await prepared.provider.generate(single, report)
        if not raw:
            raise ImageRejected("no images")
        return await check_result_image(raw[0], self._result_limits)

    async def _gave_back(self, job_id: str, prepared: Prepared, made: int, failure: Exception | None) -> None:
        await asyncio.shield(self._store.quotas.give_back(job_id, made))
        missing = prepared.job.count - made
        why = f" ({image_failure(failure, self._secrets).split('.')[0].lower()})" if failure is not None else ""
        prepared.notes.append(
            f"{missing} of {prepared.job.count} images could not be made{why} and "
            f"{'was' if missing == 1 else 'were'} not charged"
        )
        detail = failure_detail(failure, self._secrets) if failure is not None else "fewer came back"
        log.warning("job %s: %d of %d images made: %s", job_id, made, prepared.job.count, detail)

    async def _deliver(
        self, job_id: str, prepared: Prepared, images: list[ResultImage], reply: Reply, *, spoiler: bool = False
    ) -> tuple[dict, str | None]:
        """Upload the images; returns what the job row keeps (its files, for the buttons) and the adapter's
        ref of the posted message."""
        job = prepared.job
        await reply.clear_progress()
        delivery = await _delivery(job_id, prepared, images, spoiler=spoiler)
        ref = await deliver_within(self.clock, self._settings.delivery_deadline_seconds, reply.send_images(delivery))
        # Kept on disk for the buttons once the user has the images: a write beside the upload took a core
        # from it (~1 ms on update -> photo), and an undelivered job so writes nothing it must delete.
        saved = await self._files.save(job_id, images, job.images, job.mask)
        return saved.record(images), ref

    async def _tick(self, job_id: str, started: float, latest: Callable[[], ProviderProgress], reply: Reply) -> None:
        """Elapsed time once a second, so a user always sees the job is alive."""
        with contextlib.suppress(Exception):
            while True:
                await reply.progress(_progress(job_id, started, latest()))
                await asyncio.sleep(1.0)

    def cancel_for(self, scope_key: str, user_key: str) -> int:
        """Cancel this user's running jobs in this scope. Returns how many were stopped."""
        return self._running.cancel_for(scope_key, user_key)

    def cancel_job(self, job_id: str, user_key: str) -> bool:
        return self._running.cancel_job(job_id, user_key)

    async def cancel_everywhere(self, scope_key: str, user_key: str) -> int:
        """/cancel: this process's matching jobs at once, and a flag on those other processes run (their
        runners stop them within about a second). Returns how many were stopped."""
        here = self._running.cancel_for(scope_key, user_key)
        elsewhere = await self._store.jobs.request_cancel_for(scope_key, user_key, except_owner=self._store.instance_id)
        return here + elsewhere

    async def cancel_job_everywhere(self, job_id: str, user_key: str) -> bool:
        """A Cancel button, whichever process runs its job. False: not this user's, or not running."""
        if self._running.holds(job_id):
            return self._running.cancel_job(job_id, user_key)
        return await self._store.jobs.request_cancel_job(job_id, user_key, except_owner=self._store.instance_id)

    def _watch_cancels(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """While this process runs jobs: once a second, one query for the cancels other processes flagged
        on them; each is carried out as a local Cancel (refund, "Cancelled", once)."""
        while self._running.cancellable():
            await self.watch_clock.sleep(CANCEL_WATCH_SECONDS)
            try:
                flagged = await self._store.jobs.cancels_requested(self._running.cancellable())
            except Exception as exc:  # a busy or closing database: look again next time
                log.warning("could not look for cancels from other processes: %r", exc)
                continue
            for job_id in flagged:
                self._running.cancel_requested(job_id)

    async def drain(self, timeout: float) -> None:
        """At shutdown: let running jobs finish for `timeout` seconds, then cancel (and so refund) the rest."""
        await self._running.drain(timeout)
        if self._watcher is not None:
            await cancel_and_wait(self._watcher)

    def takes_mask(self, model: str | None) -> bool:
        """Whether a job's model (as its row names it) takes a mask: which buttons its images get."""
        try:
            return self._catalogue.resolve_image_model(model or "")[1].capabilities.mask
        except UnknownModel:
            return False

    def latest_progress(self, job_id: str) -> ProviderProgress | None:
        """What a job running in this process last reported (its queue position), or None."""
        return self._latest.get(job_id)

    async def result_images(self, job_id: str) -> list[bytes] | None:
        await self._running.settled(job_id)
        return await self._files.results_of(job_id)

    async def input_images(self, job_id: str) -> tuple[list[bytes], bytes | None]:
        """The images (and mask) a job was given, for Reroll."""
        await self._running.settled(job_id)
        return await self._files.inputs_of(job_id)


async def _delivery(job_id: str, prepared: Prepared, images: list[ResultImage], *, spoiler: bool = False) -> Delivery:
    """The finished result as it is posted, with its buttons (the moderators see it so too, in a review)."""
    caption = result_caption(prepared.job, prepared.model, images, prepared.notes)
    return await result_delivery(job_id, images, caption, mask=prepared.model.capabilities.mask, spoiler=spoiler)


async def result_delivery(
    job_id: str, images: list[ResultImage], caption: str, *, mask: bool, spoiler: bool = False
) -> Delivery:
    """A job's images as posted: one image with its buttons, or several as one grid picture (composed off
    the event loop) with U and V buttons per image and Reroll. `mask`: the model takes one (result_actions)."""
    if len(images) == 1:
        return Delivery(job_id, images, caption, result_actions(mask), spoiler=spoiler)
    data, mime, width, height = await asyncio.to_thread(compose_grid, [image.data for image in images])
    grid = ResultImage(data, mime, width, height)
    return Delivery(job_id, [grid], caption, [Action.REROLL], spoiler=spoiler, picks=len(images))


def result_actions(mask: bool, *, picked: bool = False) -> list[Action]:
    """The buttons under one image: Reroll (not under an image picked from a grid: it is already made),
    Vary (Subtle) and (Strong), Edit; Vary (Region), Zoom Out and Pan only where the model takes a mask,
    so no button is offered that could only be refused."""
    actions = [] if picked else [Action.REROLL]
    actions += [Action.SUBTLE, Action.VARY] + ([Action.REGION] if mask else []) + [Action.EDIT]
    return actions + (OUTPAINT_ACTIONS if mask else [])


def _single(job: ImageJob, number: int) -> ImageJob:
    """One image of a grid as its own request: its own idempotency key, and the next seed for each."""
    seed = None if job.seed is None else (job.seed + number) % 2**32
    key = f"{job.idempotency_key}-{number + 1}"
    return dataclasses.replace(job, count=1, seed=seed, idempotency_key=key)


def _resolved(prepared: Prepared) -> dict:
    """What the job really asks, kept with it: Reroll repeats it, and refuses when its inputs are gone."""
    job = prepared.job
    resolved = {
        "size": format_size(job.size),
        "inputs": len(job.images),
        "mask": job.mask is not None,
        "count": job.count,
    }
    if job.strength is not None:
        resolved["strength"] = job.strength
    if prepared.keep is not None:
        resolved["keep"] = list(prepared.keep)
    return resolved


async def _restored(image: ResultImage, canvas: bytes, keep: Box) -> ResultImage:
    data, width, height = await asyncio.to_thread(restore, image.data, canvas, keep)
    return ResultImage(data, "image/png", width, height)


def new_seed() -> int:
    return random.randint(0, 2**32 - 1)


def _progress(job_id: str, started: float, latest: ProviderProgress) -> Progress:
    return Progress(job_id, time.monotonic() - started, latest.stage, latest.percent, latest.queue_position)
