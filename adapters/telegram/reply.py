"""TelegramReply: the core's Reply port, answered in the chat and topic the request came from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    Message,
    MessageEntity,
)
from telegram.error import BadRequest

from adapters.telegram.media import as_photo, fits_as_photo, trim_caption
from adapters.telegram.outbox import Outbox, Target
from adapters.telegram.pacing import Priority
from adapters.telegram.recovery import posted_ref
from adapters.telegram.splitting import split_text
from adapters.telegram.status import JobStatus
from adapters.telegram.stream import StreamedAnswer
from bot.messages import PAN_ACTIONS, Action, Button, Delivery, Progress, Reply, ResultImage, action_id, idea_ref

T = TypeVar("T")
THINKING_EDIT_SECONDS = 5.0
THINKING_TAIL = 300  # characters of the latest reasoning inside the collapsed quote


def thinking_message(reasoning: str) -> tuple[str, list[MessageEntity]]:
    """ "💭 Thinking…" and the latest reasoning as an expandable (collapsed) blockquote."""
    head = "💭 Thinking…"
    tail = " ".join(reasoning.split())[-THINKING_TAIL:]
    if not tail:
        return head, []
    quote = MessageEntity(MessageEntity.EXPANDABLE_BLOCKQUOTE, offset=_utf16(head) + 1, length=_utf16(tail))
    return f"{head}\n{tail}", [quote]


def _utf16(text: str) -> int:
    """Telegram counts entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


BUTTON_LABELS = {
    Action.REROLL: "🎲 Reroll",
    Action.VARY: "✨ Vary (Strong)",
    Action.SUBTLE: "🌀 Vary (Subtle)",
    Action.EDIT: "✏️ Edit",
    Action.REGION: "🖌️ Vary (Region)",
    Action.ZOOM_2: "🔍 Zoom Out 2x",
    Action.ZOOM_15: "🔍 Zoom Out 1.5x",
    Action.PAN_LEFT: "⬅️",
    Action.PAN_RIGHT: "➡️",
    Action.PAN_UP: "⬆️",
    Action.PAN_DOWN: "⬇️",
    Action.CHART: "📊 Chart (30 days)",
}
REGION_LABELS = {
    Action.REGION_LEFT: "⬅️ Left half",
    Action.REGION_RIGHT: "➡️ Right half",
    Action.REGION_TOP: "⬆️ Top half",
    Action.REGION_BOTTOM: "⬇️ Bottom half",
    Action.REGION_CENTRE: "⏺️ Centre",
}
ALBUM_SIZE = 10


def result_keyboard(delivery: Delivery) -> InlineKeyboardMarkup | None:
    """U1-U4 and V1-V4 under a grid, then Reroll and the Vary and Edit buttons (two a row: phones are narrow)."""
    rows = []
    for buttons in delivery.button_rows():
        keys = [
            InlineKeyboardButton(_label(button), callback_data=button.id)
            for button in buttons
            if button.action != Action.CANCEL
        ]
        whole = buttons[0].number is not None or buttons[0].action in PAN_ACTIONS  # short labels: one row
        rows += [keys] if whole else [keys[i : i + 2] for i in range(0, len(keys), 2)]
    return InlineKeyboardMarkup(rows) if rows else None


def _label(button: Button) -> str:
    return button.grid_label or BUTTON_LABELS.get(button.action, button.action.capitalize())


def album_item(
    image: ResultImage, caption: str | None, index: int, photo: bool, spoiler: bool
) -> InputMediaPhoto | InputMediaDocument:
    name = f"atelier-{index}.{image.extension}"
    if photo:
        return InputMediaPhoto(image.data, caption=caption, filename=name, has_spoiler=spoiler or None)
    return InputMediaDocument(image.data, caption=caption, filename=name)  # documents have no spoiler


class TelegramReply(Reply):
    def __init__(self, outbox: Outbox, target: Target, conversation: str) -> None:
        self._outbox = outbox
        self._target = target
        self.conversation = conversation  # the adapter may settle it after a database look-up
        self._status: JobStatus | None = None
        self._replied = False  # only the first answer quotes the user's message
        self._answer: list[Message] = []  # the messages the last streamed answer is shown in
        self._thinking: tuple[Message, str, float] | None = None  # the "Thinking…" line: message, text, when

    @property
    def target(self) -> Target:
        """Where this reply answers: the request's chat, topic and message."""
        return self._target

    @property
    def _bot(self) -> Bot:
        return self._outbox.bot

    async def _call(self, call: Callable[[], Awaitable[T]], what: str, priority: Priority = Priority.ANSWER) -> T:
        """A Bot API call in the chat's paced lane: results first, flood control waited out."""
        return await self._outbox.call(self._target, call, what, priority)

    def _send_args(self) -> dict:
        args = self._target.send_args(reply=not self._replied)
        self._replied = True
        return args

    async def send_text(self, text: str) -> None:
        await self._send_text(text, Priority.ANSWER)

    async def send_error(self, text: str) -> None:
        """Errors and refusals are chatter: under flood limits a waiting result goes before them."""
        await self._send_text(text, Priority.NOTICE)

    async def _send_text(self, text: str, priority: Priority) -> None:
        for piece in split_text(text) or ["…"]:
            args = self._send_args()
            message = await self._call(partial(self._bot.send_message, text=piece, **args), "sendMessage", priority)
            await self._outbox.link(message, conversation=self.conversation)

    async def stream_text(self, chunks: AsyncIterator[str]) -> str:
        answer = StreamedAnswer(self._outbox, self._target, self.conversation, quote=not self._replied)
        if self._thinking is not None:
            answer.adopt(self._thinking[0], self._thinking[1])
            self._thinking = None
        try:
            return await answer.run(chunks)
        finally:
            self._replied = self._replied or answer.sent_any
            self._answer = answer.messages

    async def send_ideas(self, text: str, ideas_id: str, count: int) -> None:
        buttons = [
            InlineKeyboardButton(f"🎨 {n}", callback_data=action_id(Action.IDEA, idea_ref(ideas_id, n)))
            for n in range(1, count + 1)
        ]
        args = self._send_args()
        send = partial(self._bot.send_message, text=text, reply_markup=InlineKeyboardMarkup([buttons]), **args)
        message = await self._call(send, "sendMessage")
        await self._outbox.link(message, conversation=self.conversation)

    async def send_buttons(self, text: str, buttons: list[Button]) -> None:
        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton(_label(button), callback_data=button.id) for button in buttons]]
        )
        args = self._send_args()
        send = partial(self._bot.send_message, text=text, reply_markup=keyboard, **args)
        message = await self._call(send, "sendMessage")
        await self._outbox.link(message, conversation=self.conversation)

    async def send_file(self, name: str, data: bytes, mime: str, caption: str = "") -> None:
        """A picture (a chart) as a photo, anything else (a CSV) as a document."""
        args = self._send_args()
        caption = trim_caption(caption)
        if mime.startswith("image/"):
            send = partial(self._bot.send_photo, photo=data, caption=caption, filename=name, **args)
            message = await self._call(send, "sendPhoto")
        else:
            send = partial(self._bot.send_document, document=data, caption=caption, filename=name, **args)
            message = await self._call(send, "sendDocument")
        await self._outbox.link(message, conversation=self.conversation)

    async def show_thinking(self, reasoning: str) -> None:
        """An expandable blockquote under "💭 Thinking…": collapsed, the latest reasoning inside. Posted once,
        updated at most every THINKING_EDIT_SECONDS (each edit spends the chat's flood budget)."""
        text, entities = thinking_message(reasoning)
        now = self._outbox.clock.now()
        if self._thinking is None:
            args = self._send_args()
            message = await self._call(
                partial(self._bot.send_message, text=text, entities=entities, **args), "sendMessage", Priority.STATUS
            )
            await self._outbox.link(message, conversation=self.conversation)
            self._thinking = (message, text, now)
        elif now - self._thinking[2] >= THINKING_EDIT_SECONDS and text != self._thinking[1]:
            message = self._thinking[0]
            try:
                edit = partial(message.edit_text, text, entities=entities)
                await self._call(edit, "editMessageText", Priority.STATUS)
            except BadRequest:
                return  # deleted meanwhile, or unchanged: the answer still comes
            self._thinking = (message, text, now)

    async def replace_answer(self, text: str) -> None:
        """Moderation flagged the answer just streamed: its first message becomes `text`, the rest go."""
        messages, self._answer = self._answer, []
        if not messages:
            await self.send_text(text)
            return
        first, *rest = messages
        for extra in rest:
            await self._quietly(extra.delete, "deleteMessage")
        if not await self._quietly(lambda: first.edit_text(text), "editMessageText"):
            await self.send_text(text)  # someone deleted it meanwhile: the notice still goes

    async def _quietly(self, call: Callable[[], Awaitable[object]], what: str) -> bool:
        """A call on a message that may be gone (deleted by a person): False instead of an error."""
        try:
            await self._call(call, what, Priority.ANSWER)
        except BadRequest:
            return False
        return True

    async def progress(self, update: Progress) -> None:
        if self._status is None:
            self._status = JobStatus(self._outbox, self._target)
        self._status.update(update)

    async def clear_progress(self) -> None:
        if self._status is not None:
            status, self._status = self._status, None
            await status.close()

    async def send_images(self, delivery: Delivery) -> str | None:
        """Returns the posted messages' ref (recovery.posted_ref), for a moderator's Delete."""
        keyboard = result_keyboard(delivery)
        caption = trim_caption(delivery.caption)
        spoiler = delivery.spoiler
        images = delivery.images
        if spoiler:  # documents have no spoiler: a flagged image too big for a photo goes reduced
            images = [await as_photo(image) for image in images]
        if len(images) == 1:
            sent = [await self._send_single(images[0], caption, keyboard, spoiler)]
        else:
            sent = await self._send_album(images, caption, spoiler)
            if keyboard is not None:  # albums cannot carry buttons: they go on a small follow-up
                args = self._target.send_args(reply=False)
                sent.append(
                    await self._call(
                        lambda: self._bot.send_message(text="Your images ↑", reply_markup=keyboard, **args),
                        "sendMessage",
                        Priority.RESULT,
                    )
                )
        for message in sent:
            await self._outbox.link(message, conversation=self.conversation, job_id=delivery.job_id)
        return posted_ref(sent)

    async def _send_single(
        self, image: ResultImage, caption: str, keyboard: InlineKeyboardMarkup | None, spoiler: bool = False
    ) -> Message:
        args = self._send_args()
        name = f"atelier.{image.extension}"
        if fits_as_photo(image):
            return await self._call(
                lambda: self._bot.send_photo(
                    photo=image.data,
                    caption=caption,
                    reply_markup=keyboard,
                    filename=name,
                    has_spoiler=spoiler or None,
                    **args,
                ),
                "sendPhoto",
                Priority.RESULT,
            )
        return await self._call(
            lambda: self._bot.send_document(
                document=image.data, caption=caption, reply_markup=keyboard, filename=name, **args
            ),
            "sendDocument",
            Priority.RESULT,
        )

    async def _send_album(self, images: list[ResultImage], caption: str, spoiler: bool = False) -> list[Message]:
        as_photos = all(fits_as_photo(image) for image in images)  # an album cannot mix the two
        sent: list[Message] = []
        for start in range(0, len(images), ALBUM_SIZE):
            batch = images[start : start + ALBUM_SIZE]
            first_caption = caption if start == 0 else None
            if len(batch) == 1:
                sent.append(await self._send_single(batch[0], first_caption or "", None, spoiler))
                continue
            media = [
                album_item(image, first_caption if index == 0 else None, start + index, as_photos, spoiler)
                for index, image in enumerate(batch)
            ]
            args = self._send_args()
            album = partial(self._bot.send_media_group, media=media, **args)
            sent.extend(await self._call(album, "sendMediaGroup", Priority.RESULT))
        return sent
