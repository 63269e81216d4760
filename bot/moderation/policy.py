"""Who may use the bot where: channel rules, Discord role lists, bans and private chats. Pure
decisions on a ScopePolicy snapshot; the names of a scope's moderation settings."""

from __future__ import annotations

from enum import StrEnum

from bot.messages import Request
from bot.store.moderation import ScopePolicy

# Scope settings (bot.store.settings) that moderation reads.
STRICTNESS = "mod_strictness"  # low | medium | high (default MODERATION_STRICTNESS)
OUTPUT = "mod_output"  # withhold | spoiler (default MODERATION_OUTPUT)
NSFW = "mod_nsfw"  # "on": age-restricted Discord channels allow the sexual category
LOGCHANNEL = "mod_logchannel"  # the origin JSON of the moderators' channel


class Use(StrEnum):
    IMAGES = "images"  # /imagine, /edit, the buttons under results
    CHAT = "chat"  # chat, /ask


def access_refusal(policy: ScopePolicy, request: Request, use: Use, *, now: float, allow_private: bool) -> str | None:
    """Why `request` may not `use` the bot here (a clear sentence for the user), or None. Admins
    (request.is_admin) pass role lists and bans; channel rules apply to everyone; the console
    (platform "console") is never refused."""
    raise NotImplementedError
