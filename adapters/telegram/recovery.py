"""After a crash: jobs the dead process left running were refunded at start; their users are told here,
once. A job's status message ("Working… / Cancel") is edited to say so, its button gone; a job that
had none gets a reply to the request, mentioning its user in a group. Also where a request's origin
and a status message's reference are written, as the JSON the core stores for us."""

from __future__ import annotations

import html
import json
import logging

from telegram import Message
from telegram import User as TelegramUser
from telegram.constants import ParseMode
from telegram.error import BadRequest

from adapters.telegram.outbox import Outbox, Target
from adapters.telegram.pacing import Priority
from bot import interruptions
from bot.commands.actions import INTERRUPTED_NOTICE
from bot.core import Atelier
from bot.store.jobs import InterruptedJob

log = logging.getLogger(__name__)

PLATFORM = "telegram"


def origin_of(target: Target, user: TelegramUser) -> str:
    """Where a request came from, for telling its user after a crash."""
    return json.dumps(
        {
            "chat": target.chat_id,
            "thread": target.thread_id,
            "message": target.reply_to,
            "group": target.group,
            "user": user.id,
            "name": user.first_name,
        }
    )


def status_ref(message: Message) -> str:
    return json.dumps({"chat": message.chat_id, "message": message.message_id})


def posted_ref(messages: list[Message]) -> str | None:
    """The messages a result (or a moderators' channel item) was posted in, so they can be removed or
    settled later, after a restart too: `{"chat": id, "thread": topic, "messages": [ids]}`. The last
    one carries the buttons."""
    if not messages:
        return None
    first = messages[0]
    thread = first.message_thread_id if first.is_topic_message else None
    ids = [message.message_id for message in messages]
    return json.dumps({"chat": first.chat_id, "thread": thread, "messages": ids})


def parse_posted_ref(ref: str) -> tuple[Target, list[int]]:
    """Where a `posted_ref`'s messages are (or a `status_ref`'s one message), and their ids."""
    posted = json.loads(ref)
    chat = int(posted["chat"])
    ids = posted.get("messages") or [posted["message"]]
    return Target(chat, posted.get("thread"), None, group=chat < 0), [int(message_id) for message_id in ids]


def origin_target(origin: str) -> Target:
    """Where an origin's request was asked: its chat and topic, replying to the request's message."""
    where = json.loads(origin)
    return Target(int(where["chat"]), where.get("thread"), where.get("message"), group=bool(where.get("group")))


async def keep_telling(core: Atelier, outbox: Outbox) -> None:
    """Tell users of interrupted jobs now and whenever more are refunded, each in its chat's paced lane."""

    async def tell(job: InterruptedJob) -> bool:
        told = await _edit_status(outbox, job.status_ref)
        return told or await reply_to_origin(outbox, job.origin, INTERRUPTED_NOTICE)

    await interruptions.keep_telling(core, PLATFORM, tell)


async def _edit_status(outbox: Outbox, ref: str | None) -> bool:
    if not ref:
        return False
    status = json.loads(ref)
    chat, message = int(status["chat"]), int(status["message"])
    try:
        # No reply_markup: the Cancel button goes with the edit.
        await outbox.call(
            Target(chat, None, None, group=chat < 0),
            lambda: outbox.bot.edit_message_text(INTERRUPTED_NOTICE, chat_id=chat, message_id=message),
            "editMessageText",
            Priority.NOTICE,
        )
    except BadRequest as exc:  # deleted meanwhile, or too old to edit: fall back to a reply
        log.info("telegram: could not edit an interrupted job's status: %s", exc.message)
        return False
    return True


async def reply_to_origin(outbox: Outbox, origin: str | None, notice: str) -> bool:
    """Reply to the request `origin` names with `notice`, mentioning its user in a group."""
    if not origin:
        return False
    where = json.loads(origin)
    text = html.escape(notice)
    if where.get("group") and where.get("user"):
        name = html.escape(str(where.get("name") or "there"))
        text = f'<a href="tg://user?id={int(where["user"])}">{name}</a>, {text}'
    target = origin_target(origin)
    await outbox.call(
        target,
        lambda: outbox.bot.send_message(text=text, parse_mode=ParseMode.HTML, **target.send_args()),
        "sendMessage",
        Priority.NOTICE,
    )
    return True
