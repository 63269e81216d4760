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

# The console has no replies or buttons: files are attached with @path and commands act on the last result.
CONSOLE_HELP = f"""Atelier console: make and edit images, ask about them, and chat. Results are saved as files.
/imagine <prompt> - make an image. Options: {FLAGS_HELP}
/edit <instruction> - change the last result, keeping its composition; or attach images: /edit @photo.png make it snowy
    @mask:mask.png adds a mask (white = may change), for models that take one
/ask <question> - ask about the last result, or attach one: /ask @chart.png what does this show?
/reroll - the last result's prompt again (same options)
/vary - a variation of the last result
/chat <message>, or any line without a slash - talk with the assistant; /reset forgets the conversation
/usage - your images today and your limits
/models - the image models this bot offers
/cancel, or Ctrl-C - stop the running job (nothing is charged)
/settings - show your limits; /settings user_quota 5 or /settings rate 3 lowers them, /settings reset undoes that
Paths with spaces: @"my photo.png" or @'my photo.png'. Ctrl-D (or Ctrl-C with nothing running) quits."""


MOD_HELP = """Moderation (admins): /mod shows this server's rules.
/mod block add|remove|list <term> - refuse prompts containing a term (re:<regex> for a pattern)
/mod ban <user> [1h|7d] [reason] - keep someone from using the bot here; /mod unban <user>; /mod bans
/mod channel images|chat|all|off - what this channel allows; /mod channel default ... for the others
/mod roles allow|deny <role> | clear - Discord role lists
/mod strictness low|medium|high - how strict the moderation model is
/mod output withhold|spoiler - what happens to flagged results; /mod nsfw on|off - age-restricted channels
/mod log [N] - recent moderation events; /mod logchannel - post flagged items in this channel
/mod review on|off - results in this channel wait for a moderator's approval"""


def help_for(is_admin: bool, console: bool = False) -> str:
    """/help: the moderation commands are shown only to those who can use them."""
    text = CONSOLE_HELP if console else HELP
    return f"{text}\n\n{MOD_HELP}" if is_admin else text


def models_text(catalogue: Catalogue) -> str:
    models = catalogue.image_models()
    if not models:
        return "No image models are configured on this bot."
    lines = ["Image models here (use --model NAME):"]
    lines += [f"{m.qualified}: {m.capabilities.describe()}" for m in models]
    return "\n".join(lines)
