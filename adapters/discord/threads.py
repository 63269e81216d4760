"""Chat without commands: in an Atelier thread every message continues the thread's conversation; in
a DM every message is chat; elsewhere a message that mentions the bot continues the conversation of the
bot message it replies to (or starts one). Which threads are Atelier's is stored (a message link), so it
survives restarts; answers in one conversation run one at a time, so each sees the previous turn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord.inflight import InFlight
from adapters.discord.reply import ChannelReply, Pacing
from adapters.discord.requests import chain_key, dm_key, from_message, message_key, thread_key
from adapters.discord.uploads import image_attachments, read_images
from bot.images import ImageRejected

if TYPE_CHECKING:
    from bot.core import Atelier

log = logging.getLogger(__name__)

_ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)


class ChatThreads:
    """Which channels are Atelier chat threads: a set in memory over the stored links."""

    def __init__(self, core: Atelier, remember: int = 4096) -> None:
        self._core = core
        self._ours: set[int] = set()
        self._not_ours: OrderedDict[int, None] = OrderedDict()
        self._remember = remember
        self._turns: dict[str, _Turn] = {}

    async def adopt(self, thread_id: int) -> None:
        key = thread_key(thread_id)
        await self._core.store.conversations.link_message(key, conversation=key)
        self._ours.add(thread_id)
        self._not_ours.pop(thread_id, None)

    async def is_ours(self, channel_id: int) -> bool:
        if channel_id in self._ours:
            return True
        if channel_id in self._not_ours:
            return False
        conversation, _ = await self._core.store.conversations.linked(thread_key(channel_id))
        if conversation is not None:
            self._ours.add(channel_id)
            return True
        self._not_ours[channel_id] = None
        if len(self._not_ours) > self._remember:
            self._not_ours.popitem(last=False)
        return False

    @contextlib.asynccontextmanager
    async def turn(self, conversation: str) -> AsyncIterator[None]:
        """One answer at a time per conversation."""
        slot = self._turns.setdefault(conversation, _Turn())
        slot.users += 1
        try:
            async with slot.lock:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._turns[conversation]


class _Turn:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


@dataclass
class Route:
    conversation: str
    reply_to: discord.Message | None  # answer as a reply to this message (outside threads and DMs)
    link: bool  # link the answer messages to the conversation (reply chains)
    extra_images: list[discord.Attachment]
    mentioned: bool = False


class MessageChat:
    def __init__(self, core: Atelier, threads: ChatThreads, pacing: Pacing, in_flight: InFlight) -> None:
        self._core = core
        self._threads = threads
        self._pacing = pacing
        self._in_flight = in_flight

    async def on_message(self, message: discord.Message, me: discord.ClientUser) -> None:
        if message.author.bot or message.type not in _ANSWERED_TYPES:
            return
        with self._in_flight.track():
            await self._answer(message, me)

    async def _answer(self, message: discord.Message, me: discord.ClientUser) -> None:
        route = await self._route(message, me)
        if route is None:
            return
        text = re.sub(rf"<@!?{me.id}>", "", message.content).strip()
        attachments = image_attachments(message) + route.extra_images
        if not text and not attachments and not route.mentioned:
            return  # e.g. an image-less upload, or content hidden without the Message Content intent
        reply = ChannelReply(
            message.channel,
            self._pacing,
            self._core.store.conversations,
            reply_to=route.reply_to,
            conversation=route.conversation if route.link else None,
            guild=message.guild,
        )
        try:
            images = await read_images(attachments, self._core.settings.max_input_image_bytes)
        except ImageRejected as exc:
            await reply.send_error(str(exc))
            return
        request = from_message(message, route.conversation, images)
        async with self._threads.turn(route.conversation), _typing(message.channel):
            if images:
                await self._core.ask(request, text, reply)
            else:
                await self._core.chat(request, text, reply)

    async def _route(self, message: discord.Message, me: discord.ClientUser) -> Route | None:
        mentioned = any(user.id == me.id for user in message.mentions)
        if message.guild is None:
            return Route(dm_key(message.author.id), None, False, [], mentioned)
        if await self._threads.is_ours(message.channel.id):
            return Route(thread_key(message.channel.id), None, False, [], mentioned)
        if not mentioned:
            return None
        referenced = await _referenced(message)
        if referenced is None:
            return Route(chain_key(message.id), message, True, [], True)
        extra = image_attachments(referenced)
        if referenced.author.id == me.id:
            conversation, _ = await self._core.store.conversations.linked(message_key(referenced.id))
            return Route(conversation or chain_key(referenced.id), message, True, extra, True)
        return Route(chain_key(message.id), message, True, extra, True)


@asynccontextmanager
async def _typing(channel: discord.abc.Messageable) -> AsyncIterator[None]:
    """Shows "Atelier is typing…" while the model thinks; a refused typing call never costs the answer."""
    indicator: Any = channel.typing()
    try:
        await indicator.__aenter__()
    except discord.HTTPException:
        indicator = None
    try:
        yield
    finally:
        if indicator is not None:
            await indicator.__aexit__(None, None, None)


async def _referenced(message: discord.Message) -> discord.Message | None:
    reference = message.reference
    if reference is None or reference.message_id is None:
        return None
    if isinstance(reference.resolved, discord.Message):
        return reference.resolved
    try:
        return await message.channel.fetch_message(reference.message_id)
    except discord.HTTPException:
        return None
