"""An interaction's token lasts 15 minutes, and every follow-up to it, and every edit or delete of what it
posted, goes through that token. A job queued behind others (a busy self-hosted A1111 at concurrency 1)
can outlast it. From a minute before its end, or as soon as Discord refuses it (401 Invalid Webhook Token;
404 Unknown Webhook, seen for tokens that die early), the answer goes through the channel with the bot's
own token instead: a new message replies to the original response and names the member (a ping: they may
have stopped watching), with the same files and buttons; messages already shown are edited or deleted on
the channel route. Ephemeral messages exist only for the token: past it they stay as they are.

The acknowledgement (the defer) is under way while the job starts: nothing goes through the token or the
channel before it has been accepted, and when Discord refused it nothing goes at all (NotAcknowledged)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord

from adapters.discord.mentions import MESSAGE_LIMIT, addressed, only_mentioning
from bot.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")

INTERACTION_TOKEN_SECONDS = 15 * 60
# Switched a minute early: an upload begun at 14:59 must not meet the token's end halfway.
TOKEN_MARGIN_SECONDS = 60
USABLE_TOKEN_SECONDS = INTERACTION_TOKEN_SECONDS - TOKEN_MARGIN_SECONDS
INVALID_WEBHOOK_TOKEN = 50027
UNKNOWN_WEBHOOK = 10015
NEEDED_PERMISSIONS = "View Channel, Send Messages, Attach Files and Read Message History"


class NotAcknowledged(Exception):
    """Discord refused the interaction's acknowledgement (too late, or answered already): it has no answer."""


Acknowledgement = asyncio.Future[discord.InteractionCallbackResponse | None]


def token_refused(exc: discord.HTTPException) -> bool:
    return exc.code in (INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK)


class TokenLife:
    """How long one interaction's token may still be used, and the channel route for after it.
    `original_id` is its public original response (None if ephemeral or unknown): what late messages reply
    to; with `acknowledging` (the defer under way), `public` says whether the one it makes is that."""

    def __init__(
        self,
        interaction: discord.Interaction,
        clock: Clock,
        seconds: float,
        original_id: int | None = None,
        *,
        acknowledging: Acknowledgement | None = None,
        public: bool = False,
    ) -> None:
        self._inter = interaction
        self._clock = clock
        self._ends = clock.now() + seconds
        self._refused = False
        self._named = False  # the member was mentioned already: one ping per answer is enough
        self.original_id = original_id
        self._acking = acknowledging
        self._public = public

    async def acknowledged(self) -> None:
        """Returns once the defer has been accepted; NotAcknowledged if Discord refused it."""
        if self._acking is None:
            return
        try:
            ack = await asyncio.shield(self._acking)  # shared by every caller: one cancelled must not cancel it
        except discord.HTTPException as exc:
            raise NotAcknowledged(f"{exc.status} {exc.text[:100]}") from None
        if self._acking is not None:  # the first caller past it
            self._acking = None
            if self._public and ack is not None:
                self.original_id = ack.message_id

    @property
    def usable(self) -> bool:
        return not self._refused and self._clock.now() < self._ends

    async def either(self, by_token: Callable[[], Awaitable[T]], by_channel: Callable[[], Awaitable[T]]) -> T:
        """`by_token()` while the token lasts; `by_channel()` after it, or once Discord refuses the token."""
        await self.acknowledged()
        if self.usable:
            try:
                return await by_token()
            except discord.HTTPException as exc:
                if not token_refused(exc):
                    raise
                self._refused = True
                log.info("discord: the interaction's token was refused (%s); answering in the channel", exc.code)
        return await by_channel()

    @property
    def channel(self) -> discord.PartialMessageable:
        channel_id = self._inter.channel_id
        if channel_id is None:  # every command, button and form Atelier answers comes from a channel
            raise discord.ClientException("this interaction has no channel to answer in")
        return self._inter.client.get_partial_messageable(channel_id, guild_id=self._inter.guild_id)

    def _on_channel(self, message: Any) -> discord.PartialMessage | None:
        """`message` on the channel route; None for an ephemeral one, which only the token reaches."""
        if message.flags.ephemeral:
            return None
        return self.channel.get_partial_message(message.id)

    @property
    def _original(self) -> discord.PartialMessage | None:
        return None if self.original_id is None else self.channel.get_partial_message(self.original_id)

    async def edit(self, message: Any, **fields: Any) -> None:
        """Through the token while it lasts, else on the channel route (an ephemeral message stays as it is)."""

        async def on_channel() -> None:
            if (partial := self._on_channel(message)) is not None:
                await partial.edit(**fields)

        await self.either(lambda: message.edit(**fields), on_channel)

    async def delete(self, message: Any) -> None:
        async def on_channel() -> None:
            if (partial := self._on_channel(message)) is not None:
                await partial.delete()

        await self.either(message.delete, on_channel)

    async def delete_original(self) -> None:
        async def on_channel() -> None:
            if (original := self._original) is not None:
                await original.delete()

        await self.either(self._inter.delete_original_response, on_channel)

    async def send(
        self,
        content: str,
        *,
        files: list[discord.File] | None = None,
        view: discord.ui.View | None = None,
        reply_to: discord.abc.Snowflake | None = None,
    ) -> discord.Message:
        """A channel message replying to `reply_to` (else the original response), its first naming the member.
        A caption may be cut to make room for the mention (the ping matters more than its tail); an
        answer's text never is: a page too long for it goes without."""
        extra: dict[str, Any] = {}
        target = reply_to or self._original
        if target is not None:
            reference = discord.MessageReference(
                message_id=target.id,
                channel_id=self.channel.id,
                guild_id=self._inter.guild_id,
                fail_if_not_exists=False,
            )
            extra.update(reference=reference, mention_author=False)
        if files:
            extra["files"] = files
        if view is not None:
            extra["view"] = view
        user = self._inter.user.id
        if not self._named and (files or len(content) + len(f"<@{user}> ") <= MESSAGE_LIMIT):
            content = addressed(user, content)
            extra["allowed_mentions"] = only_mentioning(user)
            self._named = True
        try:
            return await self.channel.send(content, **extra)
        except discord.Forbidden as exc:
            log.warning(
                "discord: an interaction's token ran out and the bot may not post in channel %s (%s %s): "
                "give it %s there",
                self.channel.id,
                exc.status,
                exc.code,
                NEEDED_PERMISSIONS,
            )
            raise
