"""The core's Desk port on Discord: the moderators' channel (`/mod logchannel`) gets alerts and held
results behind spoilers with a button per verb; approved results and rejections go back to where they
were asked for, naming the requester. Places, origins and refs are the JSON of recovery.origin_of
and reply.posted_ref. Every Discord call has a deadline, so a slow channel never holds a job."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import discord

from adapters.discord.mentions import MESSAGE_LIMIT, addressed, fit, only_mentioning
from adapters.discord.reply import posted_ref
from adapters.discord.requests import message_key
from adapters.discord.uploads import result_files, upload_cap
from adapters.discord.views import mod_view, result_view
from bot.messages import Delivery
from bot.moderation.desk import DeskItem
from bot.store.conversations import ConversationStore

log = logging.getLogger(__name__)


class DiscordDesk:
    def __init__(
        self, client: discord.Client, links: ConversationStore, *, max_upload: int, timeout: float = 30.0
    ) -> None:
        self._client = client
        self._links = links
        self._max_upload = max_upload
        self._timeout = timeout

    def _channel(self, channel_id: int) -> tuple[discord.abc.Messageable, discord.Guild | None]:
        cached = self._client.get_channel(channel_id)
        if isinstance(cached, discord.abc.Messageable):
            return cached, getattr(cached, "guild", None)
        return self._client.get_partial_messageable(channel_id), None

    async def post(self, place: str, item: DeskItem) -> str | None:
        channel, guild = self._channel(int(json.loads(place)["channel"]))
        extra: dict[str, Any] = {}
        if item.images:
            held = Delivery(f"mod-{item.kind}-{item.item_id}", item.images, "", [], spoiler=True)
            extra["files"] = await result_files(held, upload_cap(self._max_upload, guild))
        view = mod_view(item.buttons, item.item_id)
        if view is not None:
            extra["view"] = view
        async with asyncio.timeout(self._timeout):
            message = await channel.send(fit(item.text), **extra)
        return posted_ref([message])

    async def deliver(self, origin: str, delivery: Delivery) -> str | None:
        where = json.loads(origin)
        channel, guild = self._channel(int(where["channel"]))
        user = int(where["user"])
        extra: dict[str, Any] = {}
        if where.get("message"):  # a plain message asked: answer it as a reply
            request = self._client.get_partial_messageable(int(where["channel"])).get_partial_message(
                int(where["message"])
            )
            extra["reference"] = request.to_reference(fail_if_not_exists=False)
            extra["mention_author"] = False
        async with asyncio.timeout(self._timeout):
            files = await result_files(delivery, upload_cap(self._max_upload, guild))
            message = await channel.send(
                addressed(user, delivery.caption),
                files=files,
                view=result_view(delivery),
                allowed_mentions=only_mentioning(user),
                **extra,
            )
        await self._links.link_message(message_key(message.id), job_id=delivery.job_id)
        return posted_ref([message])

    async def tell(self, origin: str, text: str) -> None:
        where = json.loads(origin)
        channel, _ = self._channel(int(where["channel"]))
        user = int(where["user"])
        async with asyncio.timeout(self._timeout):
            await channel.send(addressed(user, text), allowed_mentions=only_mentioning(user))

    async def delete(self, ref: str) -> bool:
        posted = json.loads(ref)
        channel = self._client.get_partial_messageable(int(posted["channel"]))
        deleted = False
        for message_id in posted["messages"]:
            try:
                async with asyncio.timeout(self._timeout):
                    await channel.get_partial_message(int(message_id)).delete()
            except discord.NotFound:
                continue  # deleted already, by someone else
            deleted = True
        return deleted

    async def settle(self, ref: str, text: str) -> None:
        posted = json.loads(ref)
        channel = self._client.get_partial_messageable(int(posted["channel"]))
        async with asyncio.timeout(self._timeout):
            message = await channel.fetch_message(int(posted["messages"][0]))
            kept = message.content[: MESSAGE_LIMIT - len(text) - 1].rstrip()
            await message.edit(content=fit(f"{kept}\n{text}"), view=None)
