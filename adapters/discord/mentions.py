"""Naming a member in a channel message: a ping for them and nobody else (a caption quotes a prompt,
which may hold mentions of its own)."""

from __future__ import annotations

import discord

MESSAGE_LIMIT = 2000


def only_mentioning(user_id: int) -> discord.AllowedMentions:
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(id=user_id)])


def fit(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def addressed(user_id: int, text: str) -> str:
    """`<@id> text`, cut to a message's length."""
    return fit(f"<@{user_id}> {text}")
