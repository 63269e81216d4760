"""`/help` and `/models`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.messages import Reply
from bot.parsing import FLAGS_HELP

if TYPE_CHECKING:
    from bot.core import Atelier

HELP = f"""Atelier makes and edits images and answers questions about them.
/imagine <prompt> - make an image. Options: {FLAGS_HELP}
/edit <instruction> - reply to an image (or attach one) to change it, keeping its composition
/ask <question> - reply to an image (or attach one) and ask about it
/chat <message> - talk with the assistant; replies continue the conversation
/usage - your images today and the limits here
/models - the image models this bot offers
/cancel - stop your running image job (nothing is charged)
/settings - admins: quotas, rate limit and default model for this server or group
Buttons under each image: Reroll (same prompt again), Vary (a variation of it), Edit (change it)."""


async def help_command(reply: Reply) -> None:
    await reply.send_text(HELP)


async def models_command(core: Atelier, reply: Reply) -> None:
    models = core.catalogue.image_models()
    if not models:
        await reply.send_text("No image models are configured on this bot.")
        return
    lines = ["Image models here (use --model NAME):"]
    lines += [f"{m.qualified}: {m.capabilities.describe()}" for m in models]
    await reply.send_text("\n".join(lines))
