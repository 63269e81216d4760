"""`/edit <instruction>` on a replied-to or attached image: image-to-image that keeps the composition."""

from __future__ import annotations

from bot.command import GenerationParams
from bot.jobs import JobRunner
from bot.messages import Reply, Request
from bot.preparation import JobSpec
from bot.store.jobs import JobKind

NO_IMAGE = "Reply to an image (or attach one) with `/edit <what to change>`, e.g. `/edit make it snowy`."
NO_INSTRUCTION = "Say what to change, e.g. `/edit make it snowy`."


async def edit(runner: JobRunner, request: Request, params: GenerationParams, reply: Reply) -> str | None:
    if not request.images:
        await reply.send_error(NO_IMAGE)
        return None
    if not params.prompt.strip():
        await reply.send_error(NO_INSTRUCTION)
        return None
    # Every attached image (a whole album) is a reference; past what the model takes, the first ones are
    # used and the caption says so. With no size asked, the result keeps the first image's shape.
    spec = JobSpec(JobKind.EDIT, params, request.images, mask=request.mask)
    return await runner.run(request, spec, reply)
