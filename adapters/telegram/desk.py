"""The moderators' channel on Telegram (the core's Desk port): items are posted in the topic or group
`/mod logchannel` named, their images behind spoilers, with a button per moderator verb; approved
results go to their request as a reply; requesters are told; posted results are deleted. Every call
takes its turn in the chat's paced lane and is bounded in time (a result retries flood holds until
its deadline)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from functools import partial

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Message
from telegram.error import BadRequest

from adapters.telegram.media import MAX_CAPTION, as_photo, fit_utf16, utf16_len
from adapters.telegram.outbox import Outbox, Target, conversation_key
from adapters.telegram.pacing import Priority
from adapters.telegram.recovery import origin_target, parse_posted_ref, posted_ref, reply_to_origin
from adapters.telegram.reply import ALBUM_SIZE, TelegramReply
from adapters.telegram.splitting import MAX_TEXT
from bot.messages import Delivery, ResultImage
from bot.moderation.desk import DeskItem, ModVerb, mod_button_id

log = logging.getLogger(__name__)


VERB_LABELS = {
    ModVerb.APPROVE: "✅ Approve",
    ModVerb.REJECT: "❌ Reject",
    ModVerb.DELETE: "🗑 Delete",
    ModVerb.BAN: "🚫 Ban user",
    ModVerb.DISMISS: "👌 Dismiss",
}


def desk_keyboard(item: DeskItem) -> InlineKeyboardMarkup | None:
    buttons = [
        InlineKeyboardButton(VERB_LABELS[verb], callback_data=mod_button_id(verb, item.item_id))
        for verb in item.buttons
    ]
    return InlineKeyboardMarkup([buttons]) if buttons else None


class TelegramDesk:
    def __init__(self, outbox: Outbox, timeout: float) -> None:
        self._outbox = outbox
        self._timeout = timeout

    async def post(self, place: str, item: DeskItem) -> str | None:
        # In the moderators' topic, not as a reply to the `/mod logchannel` message that chose it.
        target = replace(origin_target(place), reply_to=None)
        keyboard = desk_keyboard(item)
        async with asyncio.timeout(self._timeout):
            photos = [await as_photo(image) for image in item.images]
            if len(photos) == 1 and utf16_len(item.text) <= MAX_CAPTION:
                photo = partial(
                    self._outbox.bot.send_photo,
                    photo=photos[0].data,
                    caption=item.text,
                    has_spoiler=True,
                    reply_markup=keyboard,
                    filename=f"atelier.{photos[0].extension}",
                    **target.send_args(),
                )
                return posted_ref([await self._outbox.call(target, photo, "sendPhoto", Priority.ANSWER)])
            sent = await self._spoilered(target, photos)
            # The text and buttons follow the images (an album cannot carry buttons), replying to them.
            follow = replace(target, reply_to=sent[0].message_id if sent else None)
            text = partial(
                self._outbox.bot.send_message,
                text=fit_utf16(item.text, MAX_TEXT),
                reply_markup=keyboard,
                **follow.send_args(),
            )
            sent.append(await self._outbox.call(target, text, "sendMessage", Priority.ANSWER))
            return posted_ref(sent)

    async def _spoilered(self, target: Target, photos: list[ResultImage]) -> list[Message]:
        sent: list[Message] = []
        for start in range(0, len(photos), ALBUM_SIZE):
            batch = photos[start : start + ALBUM_SIZE]
            if len(batch) == 1:
                one = partial(self._outbox.bot.send_photo, photo=batch[0].data, has_spoiler=True, **target.send_args())
                sent.append(await self._outbox.call(target, one, "sendPhoto", Priority.ANSWER))
                continue
            media = [
                InputMediaPhoto(image.data, filename=f"atelier-{start + index}.{image.extension}", has_spoiler=True)
                for index, image in enumerate(batch)
            ]
            album = partial(self._outbox.bot.send_media_group, media=media, **target.send_args())
            sent.extend(await self._outbox.call(target, album, "sendMediaGroup", Priority.ANSWER))
        return sent

    async def deliver(self, origin: str, delivery: Delivery) -> str | None:
        target = origin_target(origin)
        name = str(json.loads(origin).get("name") or "")
        approved = "a moderator approved your image."
        who = f"{name}, {approved}" if target.group and name else approved.capitalize()
        # The conversation the request would have started, as if the result had been posted at once.
        conversation = conversation_key(target.chat_id, target.thread_id, target.reply_to, group=target.group)
        reply = TelegramReply(self._outbox, target, conversation)
        async with asyncio.timeout(self._timeout):
            return await reply.send_images(replace(delivery, caption=f"{who}\n{delivery.caption}".strip()))

    async def tell(self, origin: str, text: str) -> None:
        async with asyncio.timeout(self._timeout):
            await reply_to_origin(self._outbox, origin, text)

    async def delete(self, ref: str) -> bool:
        target, message_ids = parse_posted_ref(ref)
        deleted = False
        async with asyncio.timeout(self._timeout):
            for message_id in message_ids:
                removal = partial(self._outbox.bot.delete_message, target.chat_id, message_id)
                try:
                    deleted = await self._outbox.call(target, removal, "deleteMessage", Priority.ANSWER) or deleted
                except BadRequest as exc:  # gone already (deleted by someone), or too old for a bot to delete
                    log.info("telegram: could not delete a posted result: %s", exc.message)
        return deleted

    async def settle(self, ref: str, text: str) -> None:
        """The buttons go (from the message that carries them, the last) and a reply says who did what."""
        target, message_ids = parse_posted_ref(ref)
        last = message_ids[-1]
        async with asyncio.timeout(self._timeout):
            unbuttoned = partial(
                self._outbox.bot.edit_message_reply_markup, chat_id=target.chat_id, message_id=last, reply_markup=None
            )
            try:
                await self._outbox.call(target, unbuttoned, "editMessageReplyMarkup", Priority.ANSWER)
            except BadRequest as exc:  # not modified (no buttons left) or deleted: the reply still says it
                log.info("telegram: could not remove a desk item's buttons: %s", exc.message)
            note = partial(self._outbox.bot.send_message, text=text, **replace(target, reply_to=last).send_args())
            await self._outbox.call(target, note, "sendMessage", Priority.ANSWER)
