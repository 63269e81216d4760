"""After a crash: jobs the dead process left running were refunded at start; their users are told here,
once. A job's status message is edited to say so, its Cancel button gone; a job that had none (or
whose status cannot be edited, an ephemeral one) gets a message in its channel mentioning its user.
Also the JSON the core stores for us: where a request came from, and where its status is."""

from __future__ import annotations

import asyncio
import json
import logging

import discord

from bot import interruptions
from bot.commands.actions import INTERRUPTED_NOTICE
from bot.core import Atelier
from bot.store.jobs import InterruptedJob

log = logging.getLogger(__name__)

PLATFORM = "discord"
# A job cut off because the bot is stopping: what its status message is left saying.
STOPPED_NOTICE = "⚠️ Stopped: Atelier is restarting. Nothing was charged; please try again in a minute."


def cut_off_at_shutdown(client: discord.Client) -> bool:
    """The job calling this is being cancelled while the adapter takes no more requests (stopping)."""
    task = asyncio.current_task()
    cancelled = task is not None and task.cancelling() > 0
    return cancelled and not getattr(client, "taking_requests", True)


def origin_of(channel_id: int | None, user_id: int, message_id: int | None = None) -> str | None:
    """Where a request came from: its channel, its user and, for a plain message, that message."""
    if channel_id is None:
        return None
    where: dict[str, int] = {"channel": channel_id, "user": user_id}
    if message_id is not None:
        where["message"] = message_id
    return json.dumps(where)


def status_ref(message: discord.Message | discord.WebhookMessage | discord.InteractionMessage) -> str:
    return json.dumps({"channel": message.channel.id, "message": message.id})


async def keep_telling(core: Atelier, client: discord.Client) -> None:
    """Tell users of interrupted jobs now and whenever more are refunded, until cancelled."""

    async def tell(job: InterruptedJob) -> bool:
        return await _edit_status(client, job.status_ref) or await _post_to_origin(client, job.origin)

    await interruptions.keep_telling(core, PLATFORM, tell)


async def _edit_status(client: discord.Client, ref: str | None) -> bool:
    if not ref:
        return False
    status = json.loads(ref)
    message = client.get_partial_messageable(int(status["channel"])).get_partial_message(int(status["message"]))
    try:
        await message.edit(content=INTERRUPTED_NOTICE, view=None)  # no view: the Cancel button goes
    except (discord.NotFound, discord.Forbidden) as exc:  # deleted meanwhile, or not ours to edit
        log.info("discord: could not edit an interrupted job's status: %s", exc.status)
        return False
    return True


async def _post_to_origin(client: discord.Client, origin: str | None) -> bool:
    if not origin:
        return False
    where = json.loads(origin)
    channel = client.get_partial_messageable(int(where["channel"]))
    await channel.send(
        f"<@{int(where['user'])}> {INTERRUPTED_NOTICE}", allowed_mentions=discord.AllowedMentions(users=True)
    )
    return True
