"""Updates -> core requests: who asked, in which scope and conversation, with which images; and the
buttons under results (Reroll, Vary, Edit, Cancel), which find their job in the database."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from telegram import (
    CallbackQuery,
    Chat,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram import User as TelegramUser
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from adapters.telegram.addressing import Addressed, address
from adapters.telegram.admins import AdminCache
from adapters.telegram.albums import AlbumGatherer, album_images, captioned
from adapters.telegram.media import blend_images, download, image_of, input_image
from adapters.telegram.outbox import Outbox, Target, conversation_key, message_key
from adapters.telegram.pacing import Priority
from adapters.telegram.recovery import origin_of
from adapters.telegram.reply import REGION_LABELS, TelegramReply
from bot.canvas import region_phrase
from bot.command import Ask, Blend, ChangeSettings, Command, Describe, Edit, Help, Moderate, Reset, Usage
from bot.command import Chat as ChatText  # telegram has a Chat too
from bot.commands.actions import CHOOSE_REGION
from bot.core import Atelier
from bot.failures import SORRY
from bot.images import ImageRejected
from bot.messages import (
    NEEDS_INSTRUCTION,
    REGION_ACTIONS,
    Action,
    Reply,
    Request,
    Scope,
    ScopeKind,
    User,
    action_id,
    parse_action_id,
)
from bot.moderation.desk import BUTTON_PREFIX, parse_mod_button
from bot.parsing import parse_command
from bot.redaction import redact

log = logging.getLogger(__name__)

PHOTO_HINT = "Nice picture. Send it with a caption like `/edit make it snowy` or `/ask what is this?`."
STICKER_HINT = "Nice sticker. Reply to it with `/edit make it snowy` or `/ask what is this?`."
GROUP_RESET = "In a group each reply chain is its own conversation: reply to one of my answers with /reset to clear it."
ANSWER_TOAST = 100  # a longer callback answer is shown as an alert, which the moderator dismisses
BAN_COMMANDS = ("ban", "unban")  # a reply to someone's message names whom
CALLBACK_TEXT = {
    Action.REROLL: "Rerolling…",
    Action.VARY: "Making a variation…",
    Action.SUBTLE: "Making a subtle variation…",
    Action.PICK: "Posting that image…",
    Action.EDIT: "Reply to my message with what to change.",
    Action.IDEA: "Imagining that idea…",
    Action.REGION: "Choose the part to change.",
    Action.ZOOM_2: "Zooming out…",
    Action.ZOOM_15: "Zooming out…",
    Action.CHART: "Drawing the chart…",
} | {action: "Reply to my message with what to change there." for action in REGION_ACTIONS}
PAN_TEXT = "Panning…"


def is_private(chat: Chat) -> bool:
    return chat.type == ChatType.PRIVATE


def thread_of(message: Message) -> int | None:
    """Answer in the same forum topic; plain reply threads of non-forum groups are not topics."""
    return message.message_thread_id if getattr(message, "is_topic_message", False) else None


def scope_of(chat: Chat, user: TelegramUser) -> Scope:
    if is_private(chat):
        return Scope("telegram", ScopeKind.PRIVATE, str(user.id))
    return Scope("telegram", ScopeKind.GUILD, str(chat.id))


def channel_of(thread_id: int | None) -> str:
    """The forum topic, for `/mod channel` rules; "" for a group's one chat (and a forum's General)."""
    return str(thread_id) if thread_id is not None else ""


def user_of(user: TelegramUser) -> User:
    return User("telegram", str(user.id), user.full_name or user.username or str(user.id))


def new_conversation(chat: Chat, thread_id: int | None, root_message_id: int) -> str:
    return conversation_key(chat.id, thread_id, root_message_id, group=not is_private(chat))


@dataclass
class CapturedReply(Reply):
    """Collects what the core says, for a callback answer instead of a chat message."""

    said: list[str] = field(default_factory=list)
    refused: bool = False  # something was said as an error: shown as an alert

    async def send_text(self, text: str) -> None:
        self.said.append(text)

    async def send_error(self, text: str) -> None:
        self.refused = True
        await self.send_text(text)


class Handlers:
    def __init__(self, core: Atelier, outbox: Outbox, admins: AdminCache) -> None:
        self._core = core
        self._outbox = outbox
        self._admins = admins
        self._secrets: list[str] = []
        self.inflight: set[asyncio.Task] = set()  # so the adapter can let them finish when stopping
        self._albums = AlbumGatherer(core.settings.telegram_album_wait_seconds, core.store.albums)

    def set_secrets(self, secrets: list[str]) -> None:
        self._secrets = secrets

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)

    # ------------------------------------------------------------------------------- messages

    async def on_message(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.from_user is None:
            return
        self._track()
        album = await self._albums.gather(message, self._outbox.bot, self._outbox.clock)
        if album is None:
            return  # a later photo of an album: the album is answered once, with all its photos
        message = captioned(album)
        if message.from_user is None:
            return
        bot = self._outbox.bot
        replied = message.reply_to_message
        if replied is not None and replied.forum_topic_created is not None:
            replied = None  # in a topic, every message "replies" to the topic's first message
        to_bot = replied is not None and replied.from_user is not None and replied.from_user.id == bot.id
        addressed = address(
            message.text or message.caption or "",
            private=is_private(message.chat),
            bot_username=bot.username,
            replying_to_bot=to_bot,
        )
        if addressed is None:
            return
        thread_id = thread_of(message)
        target = Target(message.chat_id, thread_id, message.message_id, group=not is_private(message.chat))
        reply = TelegramReply(self._outbox, target, new_conversation(message.chat, thread_id, message.message_id))
        try:
            await self._handle(message, album, addressed, replied if to_bot else None, reply)
        except ImageRejected as exc:
            await reply.send_error(str(exc))
        except Exception as exc:
            log.error("telegram: a message failed: %s", redact(repr(exc), self._secrets))
            await self._apologise(reply)

    async def _handle(
        self,
        message: Message,
        album: list[Message],
        addressed: Addressed,
        replied: Message | None,
        reply: TelegramReply,
    ) -> None:
        assert message.from_user is not None
        linked_conversation, linked_job = (None, None)
        if replied is not None:  # a reply to one of our messages: its conversation, or its job
            linked_conversation, linked_job = await self._outbox.links.linked(
                message_key(message.chat_id, replied.message_id)
            )
        conversation = reply.conversation = linked_conversation or reply.conversation
        request = Request(user_of(message.from_user), scope_of(message.chat, message.from_user), conversation)
        request.origin = origin_of(reply.target, message.from_user)
        request.channel = channel_of(reply.target.thread_id)
        command = self._command_of(message, addressed)
        if linked_job is not None and linked_conversation is None and isinstance(command, ChatText | Edit):
            # The answer to our "what should I change?" prompt: linked to its job (an Edit), or to the
            # button that asked (a region of Vary (Region)).
            instruction = command.text if isinstance(command, ChatText) else command.params.prompt
            asked = parse_action_id(linked_job)
            action, ref = asked if asked is not None and asked[0] in NEEDS_INSTRUCTION else (Action.EDIT, linked_job)
            await self._core.action(action, ref, request, reply, instruction=instruction)
            return
        await self._run(message, album, command, request, reply, linked_conversation is not None)

    def _command_of(self, message: Message, addressed: Addressed) -> Command:
        """The typed command: parsed by the core's one parser; a photo with a plain caption is a question."""
        if addressed.command is not None:
            return parse_command(addressed.command, self._core.settings.size_allow_list)
        if addressed.text and image_of(message) is not None:
            return Ask(addressed.text)
        return ChatText(addressed.text)

    async def _run(
        self,
        message: Message,
        album: list[Message],
        command: Command,
        request: Request,
        reply: TelegramReply,
        continued: bool,
    ) -> None:
        if isinstance(command, ChatText) and not command.text:
            if image_of(message) is not None and is_private(message.chat):
                await reply.send_text(STICKER_HINT if message.sticker is not None else PHOTO_HINT)
            return
        if isinstance(command, Reset) and not is_private(message.chat) and not continued:
            await reply.send_text(GROUP_RESET)
            return
        if isinstance(command, ChangeSettings | Moderate | Help | Usage):
            # /help lists /mod to admins only; /usage top and export are theirs
            request.is_admin = await self._is_admin(message)
        if isinstance(command, Moderate) and command.subcommand in BAN_COMMANDS and command.target is None:
            command = replace(command, target=self._author_replied_to(message))
        if isinstance(command, Edit | Ask | Describe | Blend):
            images = album_images(album) if len(album) > 1 else [image for image in [input_image(message)] if image]
            if isinstance(command, Blend):  # the album (or photo) sent, and the photo replied to
                images = blend_images(images, message)
            # The core keeps as many as the model takes, and says so when it drops some.
            request.images = list(await asyncio.gather(*(download(self._outbox.bot, image) for image in images)))
        await self._core.run(command, request, reply)

    @staticmethod
    def _author_replied_to(message: Message) -> User | None:
        """`/mod ban` replying to someone's message names its author (never a topic's opening message)."""
        replied = message.reply_to_message
        if replied is None or replied.forum_topic_created is not None or replied.from_user is None:
            return None
        return None if replied.from_user.is_bot else user_of(replied.from_user)

    async def _is_admin(self, message: Message) -> bool:
        if is_private(message.chat):
            return True  # your own private scope (the core only lets you lower the limits there)
        if message.sender_chat is not None and message.sender_chat.id == message.chat_id:
            return True  # an anonymous administrator, posting as the group itself
        assert message.from_user is not None
        return await self._admins.is_admin(message.chat_id, message.from_user.id)

    # -------------------------------------------------------------------------------- buttons

    async def on_callback(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        self._track()
        answered = False

        async def answer(text: str, *, alert: bool = False) -> None:
            nonlocal answered
            answered = True
            await self._answer(query, text, alert=alert)

        message = query.message
        if (query.data or "").startswith(BUTTON_PREFIX + ":") and message is not None:
            await self._moderator_pressed(query, answer)
            return
        parsed = parse_action_id(query.data or "")
        if parsed is None or message is None:
            await answer("This button no longer works.")
            return
        action, job_id = parsed
        chat = message.chat
        thread_id = thread_of(message)  # type: ignore[arg-type]  # an InaccessibleMessage has none
        target = Target(chat.id, thread_id, message.message_id, group=not is_private(chat))
        try:
            linked_conversation, _ = await self._outbox.links.linked(message_key(chat.id, message.message_id))
            conversation = linked_conversation or new_conversation(chat, thread_id, message.message_id)
            request = Request(user_of(query.from_user), scope_of(chat, query.from_user), conversation)
            request.origin = origin_of(target, query.from_user)
            request.channel = channel_of(thread_id)
            if action == Action.CANCEL:
                captured = CapturedReply()
                await self._core.action(action, job_id, request, captured)
                await answer(captured.said[0] if captured.said else "Cancelling…", alert=bool(captured.said))
                return
            if action in NEEDS_INSTRUCTION or action == Action.REGION:
                # Asked before the instruction prompt: another chat's job, or one gone, gets no prompt.
                refusal = await self._core.button_refusal(job_id, request)
                await answer(refusal or CALLBACK_TEXT[action], alert=refusal is not None)
                if refusal is None and action == Action.REGION:
                    await self._offer_regions(target, job_id)
                elif refusal is None:
                    await self._ask_for_instruction(target, query.from_user, job_id, action)
                return
            await answer(CALLBACK_TEXT.get(action, PAN_TEXT))
            await self._core.action(action, job_id, request, TelegramReply(self._outbox, target, conversation))
        except Exception as exc:
            log.error("telegram: a button failed: %s", redact(repr(exc), self._secrets))
            if not answered:
                await answer(SORRY, alert=True)
            else:
                await self._apologise(TelegramReply(self._outbox, target, f"telegram:{chat.id}"))

    async def _moderator_pressed(self, query: CallbackQuery, answer: Callable[..., Awaitable[None]]) -> None:
        """A button in the moderators' channel (Approve, Reject, Delete, Ban, Dismiss): the core acts
        (everything it needs is in the database, so this works after a restart) and checks again that
        the presser moderates this group; the callback's answer says what happened."""
        message = query.message
        assert message is not None
        parsed = parse_mod_button(query.data or "")
        if parsed is None:
            await answer("This button no longer works.")
            return
        verb, item_id = parsed
        chat, user = message.chat, query.from_user
        thread_id = thread_of(message)  # type: ignore[arg-type]  # an InaccessibleMessage has none
        request = Request(user_of(user), scope_of(chat, user), new_conversation(chat, thread_id, message.message_id))
        request.origin = origin_of(Target(chat.id, thread_id, None, group=not is_private(chat)), user)
        request.channel = channel_of(thread_id)
        request.is_admin = await self._admins.is_admin(chat.id, user.id) if not is_private(chat) else True
        captured = CapturedReply()
        try:
            await self._core.moderate(verb, item_id, request, captured)
        except Exception as exc:
            log.error("telegram: a moderator's button failed: %s", redact(repr(exc), self._secrets))
            await answer(SORRY, alert=True)
            return
        said = " ".join(captured.said) or "Done."
        await answer(said, alert=captured.refused or len(said) > ANSWER_TOAST)

    async def _answer(self, query: CallbackQuery, text: str, *, alert: bool = False) -> None:
        try:
            await query.answer(text[:200], show_alert=alert)
        except BadRequest as exc:  # too old (over ~15 minutes) or already answered
            log.info("telegram: could not answer a button press: %s", exc.message)

    async def _offer_regions(self, target: Target, job_ref: str) -> None:
        """Vary (Region): a keyboard of the parts of the image; each then asks for the instruction."""
        keys = [
            InlineKeyboardButton(REGION_LABELS[action], callback_data=action_id(action, job_ref))
            for action in REGION_ACTIONS
        ]
        await self._outbox.call(
            target,
            lambda: self._outbox.bot.send_message(
                text=f"🖌️ {CHOOSE_REGION}",
                reply_markup=InlineKeyboardMarkup([keys[:2], keys[2:4], keys[4:]]),
                **target.send_args(),
            ),
            "sendMessage",
            Priority.ANSWER,
        )

    async def _ask_for_instruction(self, target: Target, user: TelegramUser, job_ref: str, action: Action) -> None:
        """A ForceReply prompt, linked to the job (an Edit) or to the button that asked (a region): the
        user's reply to it runs the edit, even after a restart."""
        who = f'<a href="tg://user?id={user.id}">{html.escape(user.first_name)}</a>, ' if target.group else ""
        where = REGION_ACTIONS.get(action)
        part = "" if where is None else f" in {region_phrase(where)}"
        icon = "✏️" if where is None else "🖌️"
        text = f"{icon} {who}what should I change{part}? Reply to this message with your instruction."
        prompt = await self._outbox.call(
            target,
            lambda: self._outbox.bot.send_message(
                text=text,
                parse_mode=ParseMode.HTML,
                reply_markup=ForceReply(selective=True, input_field_placeholder="e.g. make it snowy"),
                **target.send_args(),
            ),
            "sendMessage",
            Priority.ANSWER,
        )
        await self._outbox.link(prompt, job_id=job_ref if action == Action.EDIT else action_id(action, job_ref))

    # ---------------------------------------------------------------------------------- errors

    async def _apologise(self, reply: TelegramReply) -> None:
        try:
            await reply.clear_progress()
            await reply.send_error(SORRY)
        except Exception as exc:
            log.warning("telegram: could not send an apology: %s", type(exc).__name__)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Errors PTB itself met (network trouble while polling...): logged, never raised, no secrets."""
        error = context.error
        if isinstance(error, TelegramError):
            log.warning("telegram: %s", redact(f"{type(error).__name__}: {error}", self._secrets))
        else:
            log.error("telegram: unexpected error: %s", redact(repr(error), self._secrets))
