"""Converters from Discord objects to the core's neutral Request: who, which scope, which conversation."""

from __future__ import annotations

import discord

from adapters.discord.recovery import origin_of
from bot.messages import Request, Scope, ScopeKind, User

PLATFORM = "discord"


def thread_key(thread_id: int) -> str:
    """A chat thread's conversation (and the link that marks the thread as Atelier's)."""
    return f"discord:thread:{thread_id}"


def message_key(message_id: int) -> str:
    """The link from a message the bot sent to its conversation or job."""
    return f"discord:message:{message_id}"


def chain_key(message_id: int) -> str:
    """A conversation that lives in a reply chain, named after the message that started it."""
    return f"discord:chain:{message_id}"


def dm_key(user_id: int) -> str:
    return f"discord:dm:{user_id}"


def user_of(author: discord.abc.User) -> User:
    return User(PLATFORM, str(author.id), author.display_name)


def scope_of(guild_id: int | None, user_id: int) -> Scope:
    """The guild shares quota and settings; a DM is the person's own scope."""
    if guild_id is not None:
        return Scope(PLATFORM, ScopeKind.GUILD, str(guild_id))
    return Scope(PLATFORM, ScopeKind.PRIVATE, str(user_id))


_THREAD_TYPES = (discord.ChannelType.public_thread, discord.ChannelType.private_thread, discord.ChannelType.news_thread)


def is_thread(channel: object) -> bool:
    """A thread, even when discord.py only has a partial channel for it."""
    return isinstance(channel, discord.Thread) or getattr(channel, "type", None) in _THREAD_TYPES


def channel_conversation(channel: object, fallback: str) -> str:
    """A thread's conversation belongs to the thread; elsewhere the caller's fallback."""
    if is_thread(channel):
        return thread_key(channel.id)  # type: ignore[attr-defined]
    return fallback


def place_of(channel: object, channel_id: int | None) -> tuple[str, bool]:
    """Where in the scope, for channel rules, and whether it is age-restricted (NSFW). A thread follows
    its parent channel in both (`Thread.is_nsfw` reads the parent's)."""
    where = getattr(channel, "parent_id", None) if is_thread(channel) else None
    where = where or getattr(channel, "id", None) or channel_id
    is_nsfw = getattr(channel, "is_nsfw", None)
    return ("" if where is None else str(where)), callable(is_nsfw) and bool(is_nsfw())


def roles_of(author: object) -> tuple[str, ...]:
    """A member's role ids, without @everyone (whose id is the guild's: every member has it)."""
    if not isinstance(author, discord.Member):
        return ()
    return tuple(str(role.id) for role in author.roles if not role.is_default())


def from_interaction(
    interaction: discord.Interaction, conversation: str | None = None, images: list[bytes] | None = None
) -> Request:
    guild_id = interaction.guild_id
    if conversation is None:
        conversation = channel_conversation(interaction.channel, f"discord:channel:{interaction.channel_id}")
    channel, age_restricted = place_of(interaction.channel, interaction.channel_id)
    return Request(
        user=user_of(interaction.user),
        scope=scope_of(guild_id, interaction.user.id),
        conversation=conversation,
        images=list(images or []),
        # Checked with Discord: the member's permissions in this channel, sent with the interaction.
        # A DM is the person's own scope, where settings can only lower the operator's limits.
        is_admin=guild_id is None or interaction.permissions.manage_guild,
        origin=origin_of(interaction.channel_id, interaction.user.id),
        channel=channel,
        roles=roles_of(interaction.user),
        age_restricted=age_restricted,
    )


def from_message(message: discord.Message, conversation: str, images: list[bytes]) -> Request:
    author = message.author
    is_admin = message.guild is None or (isinstance(author, discord.Member) and author.guild_permissions.manage_guild)
    channel, age_restricted = place_of(message.channel, message.channel.id)
    return Request(
        user=user_of(author),
        scope=scope_of(message.guild.id if message.guild else None, author.id),
        conversation=conversation,
        images=images,
        is_admin=is_admin,
        origin=origin_of(message.channel.id, author.id, message.id),
        channel=channel,
        roles=roles_of(author),
        age_restricted=age_restricted,
    )
