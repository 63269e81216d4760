"""`/blend`: two to four images made into one, on models that take several references."""

from __future__ import annotations

from dataclasses import replace

from bot.command import GenerationParams
from bot.jobs import JobRunner
from bot.messages import Reply, Request
from bot.preparation import JobSpec
from bot.store.jobs import JobKind

MIN_IMAGES, MAX_IMAGES = 2, 4
# What is asked when the user gives no prompt: the images themselves say what to blend.
BLEND_PROMPT = "Blend these images into one coherent picture that combines their subjects, colours and styles."
TOO_FEW = (
    "Blend needs 2 to 4 images: attach them to the command (on Telegram, send them as an album with "
    "/blend as its caption), then optionally say how to combine them."
)


async def blend(runner: JobRunner, request: Request, params: GenerationParams, reply: Reply) -> str | None:
    """Returns the job id when the blend was delivered."""
    count = len(request.images)
    if count < MIN_IMAGES:
        await reply.send_error(TOO_FEW)
        return None
    if count > MAX_IMAGES:
        await reply.send_error(f"Blend takes at most {MAX_IMAGES} images; you gave {count}. Please pick 4.")
        return None
    prompt = params.prompt.strip() or BLEND_PROMPT
    spec = JobSpec(JobKind.BLEND, replace(params, prompt=prompt, count=1), request.images)
    return await runner.run(request, spec, reply)
