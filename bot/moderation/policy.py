"""Who may use the bot where: channel rules, Discord role lists, bans and private chats. Pure
decisions on a ScopePolicy snapshot; the names of a scope's moderation settings."""

from __future__ import annotations

import time
from enum import StrEnum

from bot.messages import Request, ScopeKind
from bot.store.moderation import DEFAULT_CHANNEL, ChannelMode, ScopePolicy

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
    if request.scope.platform == "console":
        return None
    private = request.scope.kind is ScopeKind.PRIVATE
    if private and not allow_private:
        return "This bot works in servers and groups only, not in private chats."
    if not request.is_admin and (ban := _ban_in_force(policy, request.user.key, now)):
        return ban
    if channel := _channel_refusal(policy, request, use):
        return channel
    if not private and not request.is_admin:
        return _role_refusal(policy, request.roles)
    return None


def channel_mode(policy: ScopePolicy, channel: str) -> ChannelMode:
    """The channel's own rule, else the scope's default, else everything allowed."""
    return policy.channels.get(channel) or policy.channels.get(DEFAULT_CHANNEL) or ChannelMode.ALL


def _ban_in_force(policy: ScopePolicy, user_key: str, now: float) -> str | None:
    ban = policy.bans.get(user_key)
    if ban is None or (ban.until is not None and ban.until <= now):
        return None
    if ban.until is None:
        until = "until a moderator lifts the ban"
    else:
        until = "until " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ban.until))
    reason = f" ({ban.reason})" if ban.reason.strip() else ""
    return f"You can't use Atelier here: a moderator banned you {until}{reason}."


# What each use needs a channel to allow, and how a refusal names the use it is for.
_ALLOWS = {Use.IMAGES: {ChannelMode.ALL, ChannelMode.IMAGES}, Use.CHAT: {ChannelMode.ALL, ChannelMode.CHAT}}
_ONLY = {ChannelMode.IMAGES: "images", ChannelMode.CHAT: "chat"}
_GO = {Use.IMAGES: "ask for images", Use.CHAT: "chat"}


def _channel_refusal(policy: ScopePolicy, request: Request, use: Use) -> str | None:
    mode = channel_mode(policy, request.channel)
    if mode in _ALLOWS[use]:
        return None
    if mode is ChannelMode.OFF:
        return "Atelier is switched off in this channel."
    where = _elsewhere(policy, request, use)
    refusal = f"This channel is for {_ONLY[mode]} only"
    return f"{refusal}: {_GO[use]} in {where} instead." if where else f"{refusal}."


def _elsewhere(policy: ScopePolicy, request: Request, use: Use) -> str:
    """Where `use` works instead: named channels on Discord (a `<#id>` mention is a link there), else
    "another channel" when the default allows it; "" when nowhere is known to."""
    named = sorted(
        channel
        for channel, mode in policy.channels.items()
        if channel not in (DEFAULT_CHANNEL, request.channel, "") and mode in _ALLOWS[use]
    )
    if named and request.scope.platform == "discord":
        return " or ".join(f"<#{channel}>" for channel in named[:3])
    if named or channel_mode(policy, DEFAULT_CHANNEL) in _ALLOWS[use]:
        return "another channel"
    return ""


def _role_refusal(policy: ScopePolicy, roles: tuple[str, ...]) -> str | None:
    held = set(roles)
    if held & policy.denied_roles:
        return "Your role can't use Atelier here."
    if policy.allowed_roles and not held & policy.allowed_roles:
        return "Atelier here is for members with an allowed role."
    return None
