"""`/imagine <prompt> [--size WxH] [--ar W:H] [--seed N] [--model NAME] [--no THINGS]`"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.jobs import JobSpec
from bot.messages import Reply, Request
from bot.parsing import GenerationParams, UsageError, parse_generation

if TYPE_CHECKING:
    from bot.core import Atelier


async def parse_or_explain(core: Atelier, args: str, reply: Reply) -> GenerationParams | None:
    """The prompt and flags of a text command, or None after telling the user what is valid."""
    try:
        return parse_generation(args, core.settings.size_allow_list)
    except UsageError as exc:
        await reply.send_error(str(exc))
        return None


async def imagine(core: Atelier, request: Request, args: str, reply: Reply) -> str | None:
    params = await parse_or_explain(core, args, reply)
    return None if params is None else await imagine_with(core, request, params, reply)


async def imagine_with(core: Atelier, request: Request, params: GenerationParams, reply: Reply) -> str | None:
    """The structured entry (Discord slash options) shares the same job path."""
    return await core.runner.run(request, JobSpec("imagine", params), reply)
