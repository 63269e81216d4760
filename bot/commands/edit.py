"""`/edit <instruction>` on a replied-to or attached image: image-to-image that keeps the composition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands.imagine import parse_or_explain
from bot.jobs import JobSpec
from bot.messages import Reply, Request
from bot.parsing import GenerationParams

if TYPE_CHECKING:
    from bot.core import Atelier

NO_IMAGE = "Reply to an image (or attach one) with `/edit <what to change>`, e.g. `/edit make it snowy`."


async def edit(core: Atelier, request: Request, args: str, reply: Reply) -> str | None:
    params = await parse_or_explain(core, args, reply)
    return None if params is None else await edit_with(core, request, params, reply)


async def edit_with(
    core: Atelier, request: Request, params: GenerationParams, reply: Reply, parent_id: str | None = None
) -> str | None:
    if not request.images:
        await reply.send_error(NO_IMAGE)
        return None
    if not params.prompt.strip():
        await reply.send_error("Say what to change, e.g. `/edit make it snowy`.")
        return None
    # Every attached image is a reference (the model's limit is checked with the others).
    spec = JobSpec("edit", params, request.images, parent_id, mask=request.mask)
    return await core.runner.run(request, spec, reply)
