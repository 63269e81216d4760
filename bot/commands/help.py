"""`/help` and `/models`."""

from __future__ import annotations

from bot.parsing import FLAGS_HELP
from bot.providers.catalogue import Catalogue

HELP = f"""Atelier makes and edits images and answers questions about them.
/imagine <prompt> - make an image. Options: {FLAGS_HELP}
/edit <instruction> - reply to an image (or attach one) to change it, keeping its composition
/ask <question> - reply to an image (or attach one) and ask about it
/chat <message> - talk with the assistant; replies continue the conversation
/usage - your images today and the limits here
/models - the image models this bot offers
/cancel - stop your running image job (nothing is charged)
/reset - forget this conversation
/settings - admins: quotas, rate limit and default model for this server/group
Buttons under each image: Reroll (same prompt again), Vary (a variation of it), Edit (change it)."""


def models_text(catalogue: Catalogue) -> str:
    models = catalogue.image_models()
    if not models:
        return "No image models are configured on this bot."
    lines = ["Image models here (use --model NAME):"]
    lines += [f"{m.qualified}: {m.capabilities.describe()}" for m in models]
    return "\n".join(lines)
