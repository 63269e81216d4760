"""The buttons under a result: Reroll, Vary, Edit, Cancel. They read their job from the database, so
they work after a restart; a button only works in the chat its job belongs to."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.canvas import Outpaint, pan, region_mask, region_phrase, zoom_out
from bot.command import GenerationParams
from bot.images import sniff_mime
from bot.jobs import JobRunner, new_seed, result_actions
from bot.messages import (
    PAN_ACTIONS,
    REGION_ACTIONS,
    ZOOM_ACTIONS,
    Action,
    Delivery,
    Reply,
    Request,
    ResultImage,
    parse_image_ref,
)
from bot.preparation import MASKED_STRENGTH, STRONG_STRENGTH, SUBTLE_STRENGTH, JobSpec
from bot.sizes import format_size, input_shape
from bot.store.jobs import INTERRUPTED, JobKind, JobRecord, JobStatus, JobStore

GONE = "That result is no longer available (it expired or was never finished). Start again with /imagine."
NOT_YOURS = "Only the person who started this job can cancel it, and only while it runs."
INTERRUPTED_NOTICE = "⚠️ This job was interrupted by a restart and was not charged. Please try again."
ALREADY_ENDED = "That job has already ended."
OTHER_CHAT = "That button belongs to another chat."
NO_INSTRUCTION = "Say what to change, e.g. `make it snowy`."
CHOOSE_REGION = "Choose the part to change (left, right, top, bottom or centre), then say what to change there."
INPUTS_GONE = {
    JobKind.EDIT: "The image this edit started from is no longer kept, so it can't be rerolled. "
    "Reply to the image with /edit again.",
    JobKind.VARY: "The image this variation started from is no longer kept, so it can't be rerolled. "
    "Press Vary under the image again.",
}
# How far Reroll follows a chain of rerolls back to the job that was first asked for.
MAX_CHAIN = 20


class Buttons:
    def __init__(self, runner: JobRunner, jobs: JobStore) -> None:
        self._runner = runner
        self._jobs = jobs

    async def refusal(self, ref: str, request: Request) -> str | None:
        """Why a button of this job cannot be used by this request (None: it can). Adapters that ask
        something before running a button (Telegram's Edit prompt) check this first."""
        return _refusal(await self._jobs.get(parse_image_ref(ref)[0]), request)

    async def press(
        self, action: Action, ref: str, request: Request, reply: Reply, instruction: str | None = None
    ) -> str | None:
        """Run the button's job; returns the new job's id when it delivered. `ref` is a job id, or one
        image of its grid (`<job id>-<number>`: U2, V3)."""
        job_id, number = parse_image_ref(ref)
        record = await self._jobs.get(job_id)
        refused = _refusal(record, request)
        if refused is not None or record is None:
            await reply.send_error(refused or GONE)
            return None
        if action == Action.CANCEL:
            await self._cancel(record, request, reply)
            return None
        params = GenerationParams.from_json(record.prompt, record.params)
        if action == Action.REROLL:
            return await self._reroll(record, params, request, reply)
        if action == Action.REGION:  # adapters offer the regions first; here, only say what to do
            await reply.send_error(CHOOSE_REGION)
            return None
        if action in (Action.EDIT, *REGION_ACTIONS) and not (instruction or "").strip():
            await reply.send_error(NO_INSTRUCTION)
            return None
        results = await self._runner.result_images(job_id)
        index = (number or 1) - 1
        if not results or index >= len(results):
            await reply.send_error(GONE)
            return None
        source = [results[index]]
        if action == Action.PICK:
            masks = self._runner.takes_mask(params.model)
            return await self._pick(record, ref, number or 1, len(results), source[0], reply, mask=masks)
        one = replace(params, seed=None, count=1)
        if action in ZOOM_ACTIONS or action in PAN_ACTIONS:
            return await self._outpaint(action, one, source[0], job_id, request, reply)
        if action in REGION_ACTIONS:
            region = REGION_ACTIONS[action]
            mask = await asyncio.to_thread(region_mask, source[0], region)
            edited = replace(one, prompt=(instruction or "").strip())
            note = f"Vary (Region): only {region_phrase(region)} changed"
            spec = JobSpec(JobKind.EDIT, edited, source, job_id, mask, MASKED_STRENGTH, notes=[note])
        elif action in (Action.VARY, Action.SUBTLE):
            strength = SUBTLE_STRENGTH if action == Action.SUBTLE else STRONG_STRENGTH
            spec = JobSpec(JobKind.VARY, one, source, parent_id=job_id, strength=strength)
        else:
            edited = replace(one, prompt=(instruction or "").strip())
            spec = JobSpec(JobKind.EDIT, edited, source, parent_id=job_id)
        return await self._runner.run(request, spec, reply)

    async def _outpaint(
        self, action: Action, params: GenerationParams, image: bytes, parent_id: str, request: Request, reply: Reply
    ) -> str | None:
        """Zoom Out and Pan: the model paints the new border of a canvas; the kept pixels are restored."""
        outpaint: Outpaint
        if action in ZOOM_ACTIONS:
            factor = ZOOM_ACTIONS[action]
            outpaint = await asyncio.to_thread(zoom_out, image, factor)
            note = f"zoomed out {factor:g}x"
        else:
            direction = PAN_ACTIONS[action]
            outpaint = await asyncio.to_thread(pan, image, direction)
            note = f"panned {direction}"
        canvas, mask, keep = [outpaint.canvas], outpaint.mask, outpaint.keep
        spec = JobSpec(JobKind.EDIT, params, canvas, parent_id, mask, MASKED_STRENGTH, keep=keep, notes=[note])
        return await self._runner.run(request, spec, reply)

    async def _pick(
        self, record: JobRecord, ref: str, number: int, count: int, image: bytes, reply: Reply, *, mask: bool
    ) -> str | None:
        """U1-U4: one image of a grid posted alone, full size, as the provider made it (already paid for),
        with its own buttons, which carry the same `<job id>-<number>`."""
        shape = input_shape(image) or (0, 0)
        mime = sniff_mime(image)
        caption = f"{record.prompt}\n(image {number} of {count} · {format_size(shape)})"
        actions = result_actions(mask, picked=True)
        delivery = Delivery(ref, [ResultImage(image, mime, *shape)], caption, actions)
        await reply.send_images(delivery)
        return None

    async def _cancel(self, record: JobRecord, request: Request, reply: Reply) -> None:
        """Stop the job, whichever process runs it; the job itself then says "Cancelled" (once)."""
        if record.user_key != request.user.key:
            await reply.send_error(NOT_YOURS)
        elif record.status is not JobStatus.RUNNING:
            await reply.send_error(_ended(record))
        elif not await self._runner.cancel_job_everywhere(record.id, request.user.key):
            # Ended meanwhile, or already being stopped (a second press): say how it ended, if it has.
            latest = await self._jobs.get(record.id)
            await reply.send_error(_ended(latest) if latest is not None else ALREADY_ENDED)

    async def _reroll(self, record: JobRecord, params: GenerationParams, request: Request, reply: Reply) -> str | None:
        """The same job again with a new seed, from the same input images: never, silently, without them."""
        params = replace(params, seed=new_seed() if params.seed is not None else None)
        inputs, mask = await self._runner.input_images(record.id)
        origin = await self._origin(record)
        had_inputs, had_mask = _took_inputs(record, origin)
        if (had_inputs and not inputs) or (had_mask and mask is None):
            kind = origin.kind if origin is not None else JobKind.EDIT
            await reply.send_error(INPUTS_GONE.get(kind, INPUTS_GONE[JobKind.EDIT]))
            return None
        keep = record.params.get("keep")  # a Zoom Out or Pan: its kept pixels are restored again
        box = (keep[0], keep[1], keep[2], keep[3]) if isinstance(keep, list) and len(keep) == 4 else None
        strength = record.params.get("strength")  # a variation or a masked edit changes as much again
        strength = float(strength) if isinstance(strength, int | float) else None
        spec = JobSpec(JobKind.REROLL, params, inputs, record.id, mask, strength, keep=box)
        return await self._runner.run(request, spec, reply)

    async def _origin(self, record: JobRecord) -> JobRecord | None:
        """The job a chain of rerolls started from (None when it is no longer stored)."""
        current: JobRecord | None = record
        for _ in range(MAX_CHAIN):
            if current is None or current.kind != JobKind.REROLL or current.parent_id is None:
                return current
            current = await self._jobs.get(current.parent_id)
        return None


def _ended(record: JobRecord) -> str:
    """What a Cancel press on a job that is no longer running says."""
    if record.result and record.result.get("error") == INTERRUPTED:
        return INTERRUPTED_NOTICE
    return ALREADY_ENDED


def _refusal(record: JobRecord | None, request: Request) -> str | None:
    if record is None:
        return GONE
    if record.scope_key != request.scope.key:
        return OTHER_CHAT  # a forged or forwarded button: another chat's job is not this chat's to use
    return None


def _took_inputs(record: JobRecord, origin: JobRecord | None) -> tuple[bool, bool]:
    """Whether the job was given input images, and a mask. Jobs stored before this was recorded are
    judged by the kind of job their chain started from."""
    if "inputs" in record.params:
        return bool(record.params["inputs"]), bool(record.params.get("mask"))
    return origin is not None and origin.kind in (JobKind.EDIT, JobKind.VARY), False
