"""`/help` and `/models`."""

from __future__ import annotations

from bot.parsing import FLAGS_HELP
from bot.providers.base import Capabilities
from bot.providers.catalogue import Catalogue

HELP = f"""Atelier makes and edits images and answers questions about them.
/imagine <prompt> - make an image. Options: {FLAGS_HELP}
/edit <instruction> - reply to an image (or attach one) to change it, keeping its composition
/blend [prompt] - 2 to 4 images made into one (attach them; on Telegram, an album with /blend as its caption)
/ask <question> - reply to an image (or attach one) and ask about it
/chat <message> - talk with the assistant; replies continue the conversation
/think <message> - the same, the model thinking it through first (slower, for harder questions)
/describe - reply to an image (or attach one): four prompt ideas for it, each with a button to imagine it
/usage - your images today and the limits here; /usage chart - the last 30 days as a picture
/usage top, /usage export - admins: this week's most active members; a CSV of this server/group's jobs
/info - your running jobs (with queue positions), today's usage and the defaults here
/models - the image models this bot offers
/cancel - stop your running image job (nothing is charged)
/reset - forget this conversation
/settings - admins: quotas, rate limit and default model for this server/group
Buttons under each image: Reroll (same prompt again), Vary (Subtle) and (Strong), Edit (change it); \
under a grid (--n 4), U1-U4 (that image alone) and V1-V4 (vary it); on models that take a mask, \
Vary (Region) (change one part), Zoom Out 2x / 1.5x and Pan ⬅️➡️⬆️⬇️. /models says which model can do what."""

# The console has no replies or buttons: files are attached with @path and commands act on the last result.
CONSOLE_HELP = f"""Atelier console: make and edit images, ask about them, and chat. Results are saved as files.
/imagine <prompt> - make an image. Options: {FLAGS_HELP}
/edit <instruction> - change the last result, keeping its composition; or attach images: /edit @photo.png make it snowy
    @mask:mask.png adds a mask (white = may change), for models that take one
/ask <question> - ask about the last result, or attach one: /ask @chart.png what does this show?
/reroll - the last result's prompt again (same options)
/vary [strong|subtle] - a variation of the last result
/u N, /v N - after a grid (--n 4): post image N alone, or vary it
/region left|right|top|bottom|centre <instruction> - change one part of the last result (models with masks)
/zoom 2|1.5, /pan left|right|up|down - outpaint around the last result (models with masks)
/blend @a.png @b.png [prompt] - 2 to 4 images made into one (models that take several images)
/chat <message>, or any line without a slash - talk with the assistant; /reset forgets the conversation
/think <message> - the same, the model thinking it through first (slower, for harder questions)
/describe @photo.png - four prompt ideas for an image (or the last result); /imagine 2 then makes the second
/usage - your images today and your limits; /usage chart - the last 30 days (saved as a picture)
/usage top, /usage export - your own week; a CSV of your jobs and chat turns
/info - your running jobs, today's usage and the defaults
/models - the image models this bot offers
/cancel, or Ctrl-C - stop the running job (nothing is charged)
/settings - show your limits; /settings user_quota 5 or /settings rate 3 lowers them, /settings reset undoes that
Paths with spaces: @"my photo.png" or @'my photo.png'. Ctrl-D (or Ctrl-C with nothing running) quits."""


MOD_HELP = """Moderation (admins only; on Telegram, group admins):
/mod - this server's rules (on Discord: /mod status)
/mod block add <term>, /mod block remove <term>, /mod block list - prompt terms refused here (re:<regex> for a pattern)
/mod ban <user> [30m|2h|7d|2w] [reason] - stop someone using the bot here (a mention, a user id, or on Telegram \
reply to their message); /mod unban <user>; /mod bans
/mod channel images|chat|all|off - what this channel allows; /mod channel default <mode> - channels without a rule; \
/mod channel reset
/mod roles allow <role>, /mod roles deny <role>, /mod roles clear - Discord role lists
/mod strictness low|medium|high - how readily the moderation model flags prompts and images
/mod output withhold|spoiler - flagged results: held for moderators, or posted behind a spoiler
/mod nsfw on|off - Discord age-restricted channels may show sexual content
/mod log [N] - the latest moderation log entries (up to 50)
/mod logchannel - run it in your moderators' channel: flagged items go there, with buttons; /mod logchannel off
/mod review on|off - results in this channel wait in the moderators' channel for approval"""

# The console user moderates their own scope: no members, roles, channels or buttons.
CONSOLE_MOD_HELP = """Moderation of your own console scope:
/mod - the rules here
/mod block add <term>, /mod block remove <term>, /mod block list - prompt terms refused (re:<regex> for a pattern)
/mod strictness low|medium|high - how readily the moderation model flags prompts and images
/mod output withhold|spoiler - what happens to flagged results
/mod log [N] - the latest moderation log entries
/mod logchannel - print flagged items in this transcript too; /mod logchannel off"""


def help_for(is_admin: bool, console: bool = False) -> str:
    """/help: the moderation commands are shown only to those who can use them."""
    if console:
        return f"{CONSOLE_HELP}\n\n{CONSOLE_MOD_HELP}" if is_admin else CONSOLE_HELP
    return f"{HELP}\n\n{MOD_HELP}" if is_admin else HELP


def models_text(catalogue: Catalogue) -> str:
    models = catalogue.image_models()
    if not models:
        return "No image models are configured on this bot."
    lines = ["Image models here (use --model NAME):"]
    for model in models:
        lines += [f"{model.qualified}: {model.capabilities.describe()}", f"    {flows(model.capabilities)}"]
    return "\n".join(lines)


def flows(caps: Capabilities) -> str:
    """What the Midjourney-style flow does on a model: grids, Vary, Region/Zoom/Pan, Blend."""
    grid = "grid: one request" if caps.max_images >= 4 else "grid: parallel requests"
    if not caps.image_to_image:
        vary = "Vary: no"
    else:
        vary = "Vary: strength" if caps.strength else "Vary: by wording"
    masked = "Region/Zoom/Pan: yes" if caps.mask else "Region/Zoom/Pan: no"
    blend = f"Blend: up to {caps.max_input_images}" if caps.max_input_images >= 2 else "Blend: no"
    return " · ".join([grid if caps.text_to_image else "grid: no", vary, masked, blend])
