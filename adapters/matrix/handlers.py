"""Room events -> core requests: who asked, in which scope and conversation, with which images; and the
reactions on results (Reroll, Vary, Edit, Cancel), which find their job in the store."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from nio import MatrixRoom, MegolmEvent
from nio.exceptions import EncryptionError

from adapters.matrix.addressing import ACTION_WORDS, Addressed, address
from adapters.matrix.events import Incoming, MediaRef, Target, conversation_key, incoming, media_of, thread_of
from adapters.matrix.media import download_image
from adapters.matrix.outbox import Outbox, text_content
from adapters.matrix.reactions import action_of, pick_of
from adapters.matrix.recovery import origin_of
from adapters.matrix.reply import MatrixReply
from adapters.matrix.rooms import Creators, is_admin, is_private, scope_of, user_of
from bot.command import Ask, Blend, ChangeSettings, Chat, Command, Describe, Edit, Help, Moderate, Usage
from bot.core import Atelier
from bot.failures import SORRY
from bot.images import ImageRejected
from bot.messages import Action, Request, User, image_ref
from bot.parsing import parse_command
from bot.redaction import redact

log = logging.getLogger(__name__)

IMAGE_HINT = "Nice picture. Reply to it with `!edit make it snowy` or `!ask what is this?`."
REPLY_TO_RESULT = "Reply to one of my images with `!{word}` to do that."
EDIT_PROMPT = "✏️ {who}what should I change? Reply to this message with your instruction."
ENCRYPTED = (
    "🔒 This room is encrypted, and I cannot read encrypted messages. "
    "Talk to me in an unencrypted room or DM (room settings → Security: encryption off when creating it)."
)
UNDECRYPTABLE = (
    "🔒 I could not decrypt a message here: I have no key for it (it may have been sent before I joined, "
    "or your client did not share its key with my device). Please send it again."
)
BAN_COMMANDS = ("ban", "unban")
# Both need a moderators' channel inside the scope, and on Matrix every room is a scope of its own.
NO_DESK = ("logchannel", "review")
NO_DESK_TEXT = (
    "`!mod {sub}` is not available on Matrix yet: a room is its own scope, so there is no moderators' channel "
    "in it. Flagged results follow `!mod output` (withhold or spoiler), and `!mod log` lists what happened."
)
THREAD_IMAGES = 20  # how far back in a thread an image is looked for


class Handlers:
    def __init__(self, core: Atelier, outbox: Outbox, secrets: list[str]) -> None:
        self._core = core
        self._outbox = outbox
        self._secrets = secrets
        self.display_name = ""
        self.inflight: set[asyncio.Task] = set()
        self._told_encrypted: set[str] = set()
        self.creators = Creators()  # filled from each sync's room state (see MatrixAdapter)

    @property
    def _bot(self) -> str:
        return self._outbox.api.user_id

    def dispatch(self, room: MatrixRoom, event: dict[str, Any]) -> None:
        """One timeline event, handled in its own task: a long job never holds up the sync."""
        kind, sender = event.get("type"), event.get("sender")
        if sender == self._bot or not isinstance(event.get("event_id"), str):
            return
        handler = {"m.room.message": self.on_message, "m.reaction": self.on_reaction}.get(str(kind))
        if kind == "m.room.encrypted":
            handler = self.on_encrypted
        if handler is not None:
            task = asyncio.create_task(handler(room, event))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)

    # ------------------------------------------------------------------------------- messages

    async def on_message(self, room: MatrixRoom, event: dict[str, Any]) -> None:
        message = incoming(room.room_id, event)
        if message is None:
            return
        private = is_private(room)
        conversation, job_id = (None, None)
        if message.reply_to is not None:  # a reply to one of our messages: its conversation, or its job
            conversation, job_id = await self._outbox.linked(room.room_id, message.reply_to)
        # A reply to our "what should I change?" prompt: linked to its job alone.
        answers_prompt = job_id is not None and conversation is None
        if conversation is None and message.thread_root is not None and not private:
            conversation, _ = await self._outbox.linked(room.room_id, message.thread_root)
        ours = conversation is not None or job_id is not None
        addressed = address(
            message.text,
            private=private,
            user_id=self._bot,
            display_name=self.display_name,
            mentioned=self._bot in message.mentions,
            ours=ours,
        )
        if addressed is None or (not addressed.text and addressed.command is None):
            if addressed is not None and message.image is not None and private:
                await MatrixReply(self._outbox, Target(room.room_id, None, message.event_id), "").send_text(IMAGE_HINT)
            return
        thread = None if private else message.thread_root or message.event_id
        target = Target(room.room_id, thread, message.event_id, room.encrypted)
        conversation = conversation or conversation_key(room.room_id, target.thread_root)
        reply = MatrixReply(self._outbox, target, conversation)
        if target.thread_root is not None:  # later messages in this thread are ours too, after a restart
            await self._outbox.link(room.room_id, target.thread_root, conversation=conversation)
        request = Request(user_of(room, message.sender), scope_of(room, message.sender), conversation)
        request.origin = origin_of(target, message.sender)
        try:
            await self._handle(room, message, addressed, request, reply, job_id=job_id, answers_prompt=answers_prompt)
        except ImageRejected as exc:
            await reply.send_error(str(exc))
        except Exception as exc:
            log.error("matrix: a message failed: %s", redact(repr(exc), self._secrets))
            await self._apologise(reply)

    async def _handle(
        self, room: MatrixRoom, message: Incoming, addressed: Addressed, request: Request, reply: MatrixReply, *,
        job_id: str | None, answers_prompt: bool,
    ) -> None:  # fmt: skip
        """`job_id`: the job of the result (or of our Edit prompt) the message replies to; `answers_prompt`:
        it replies to that prompt."""
        line = addressed.command
        if line is not None and line.name in ACTION_WORDS:  # `!reroll`, `!vary`: a reply to a result
            if job_id is None:
                await reply.send_error(REPLY_TO_RESULT.format(word=line.name))
                return
            await self._core.action(ACTION_WORDS[line.name], job_id, request, reply)
            return
        if job_id is not None and ((line is not None and line.name == "edit") or (line is None and answers_prompt)):
            # `!edit make it snowy` replying to a result, or the answer to our "what should I change?".
            instruction = line.args if line is not None else addressed.text
            await self._core.action(Action.EDIT, job_id, request, reply, instruction=instruction)
            return
        command = self._command_of(message, addressed)
        if isinstance(command, ChangeSettings | Moderate | Help | Usage):
            # !help lists !mod to admins only; !usage top and export are theirs
            request.is_admin = is_admin(room, message.sender, self.creators)
        if isinstance(command, Moderate) and command.subcommand in NO_DESK:
            await reply.send_error(NO_DESK_TEXT.format(sub=command.subcommand))
            return
        if isinstance(command, Moderate) and command.subcommand in BAN_COMMANDS and command.target is None:
            command = replace(command, target=await self._author_replied_to(room, message))
        if isinstance(command, Edit | Ask | Describe | Blend):
            images = await self._images(room, message)
            limit = self._core.settings.max_input_image_bytes
            request.images = [await download_image(self._outbox.api, image, limit) for image in images]
        await self._core.run(command, request, reply)

    def _command_of(self, message: Incoming, addressed: Addressed) -> Command:
        """The typed command: parsed by the core's one parser; an image with a plain caption is a question."""
        if addressed.command is not None:
            return parse_command(addressed.command, self._core.settings.size_allow_list)
        if message.image is not None:
            return Ask(addressed.text)
        return Chat(addressed.text)

    async def _images(self, room: MatrixRoom, message: Incoming) -> list[MediaRef]:
        """The message's own image (a caption), the image it replies to, or the latest one in its thread."""
        if message.image is not None:
            return [message.image]
        if message.reply_to is not None:
            replied = await self._event(room.room_id, message.reply_to)
            image = media_of(replied.get("content", {})) if replied else None
            if image is not None:
                return [image]
        if message.thread_root is not None:
            image = await self._thread_image(room.room_id, message.thread_root)
            if image is not None:
                return [image]
        return []

    async def _event(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        return await self._outbox.api.event(room_id, event_id)

    async def _thread_image(self, room_id: str, root: str) -> MediaRef | None:
        """The newest image in the thread (its root included)."""
        client = self._outbox.api.client
        seen = 0
        try:
            async with asyncio.timeout(self._outbox.api.timeout):
                async for event in client.room_get_event_relations(room_id, root, limit=THREAD_IMAGES):
                    if isinstance(event, MegolmEvent) and client.olm is not None:
                        event = client.decrypt_event(event)  # an encrypted room's thread
                    image = media_of(event.source.get("content", {}))
                    if image is not None:
                        return image
                    seen += 1
                    if seen >= THREAD_IMAGES:
                        break
        except (AttributeError, TimeoutError, EncryptionError) as exc:  # nio takes an error page for a last page
            log.info("matrix: could not read a thread: %r", exc)
        event = await self._event(room_id, root)
        return media_of(event.get("content", {})) if event else None

    async def _author_replied_to(self, room: MatrixRoom, message: Incoming) -> User | None:
        """`!mod ban` replying to someone's message names its author."""
        if message.reply_to is None:
            return None
        replied = await self._event(room.room_id, message.reply_to)
        sender = replied.get("sender") if replied else None
        return None if not sender or sender == self._bot else user_of(room, sender)

    # ------------------------------------------------------------------------------ reactions

    async def on_reaction(self, room: MatrixRoom, event: dict[str, Any]) -> None:
        relation = event.get("content", {}).get("m.relates_to", {})
        if not isinstance(relation, dict) or relation.get("rel_type") != "m.annotation":
            return
        action = action_of(str(relation.get("key", "")))
        reacted = relation.get("event_id")
        if action is None or not isinstance(reacted, str):
            return
        conversation, job_id = await self._outbox.linked(room.room_id, reacted)
        if job_id is None:
            return  # a reaction on something that is no result of ours
        number = pick_of(str(relation.get("key", "")))
        if number is not None:  # U1-U4, offered under a grid only: a 1️⃣ on a single image is someone's vote
            record = await self._core.store.jobs.get(job_id)
            if record is None or number > int(record.params.get("count") or 1) or record.params.get("count") == 1:
                return
            job_id = image_ref(job_id, number)
        sender = event["sender"]
        private = is_private(room)
        thread = None if private else thread_of(conversation or "") or reacted
        target = Target(room.room_id, thread, reacted, room.encrypted)
        conversation = conversation or conversation_key(room.room_id, thread)
        reply = MatrixReply(self._outbox, target, conversation)
        request = Request(user_of(room, sender), scope_of(room, sender), conversation)
        request.origin = origin_of(target, sender)
        try:
            if action == Action.EDIT:
                await self._ask_for_instruction(room, sender, job_id, request, target)
                return
            await self._core.action(action, job_id, request, reply)
        except Exception as exc:
            log.error("matrix: a reaction failed: %s", redact(repr(exc), self._secrets))
            await self._apologise(reply)

    async def _ask_for_instruction(
        self, room: MatrixRoom, sender: str, job_id: str, request: Request, target: Target
    ) -> None:
        """A prompt linked to the job: the reply to it runs the edit, even after a restart."""
        refusal = await self._core.button_refusal(job_id, request)
        if refusal is not None:
            await MatrixReply(self._outbox, target, request.conversation).send_error(refusal)
            return
        who = "" if is_private(room) else f"{room.user_name(sender) or sender}, "
        content = text_content(EDIT_PROMPT.format(who=who))
        if not is_private(room):
            content["m.mentions"] = {"user_ids": [sender]}
        event_id = await self._outbox.post(target, content, reply=True)
        await self._outbox.link(room.room_id, event_id, job_id=job_id)

    # -------------------------------------------------------------------------- encrypted rooms

    async def on_encrypted(self, room: MatrixRoom, event: dict[str, Any]) -> None:
        """An event nio could not decrypt (or, without end-to-end support installed, any encrypted event):
        said once per room (per process), so people are not left waiting."""
        if room.room_id in self._told_encrypted:
            return
        self._told_encrypted.add(room.room_id)
        try:
            text = ENCRYPTED if self._outbox.api.client.olm is None else UNDECRYPTABLE
            await self._outbox.post(Target(room.room_id, None, None), text_content(text, notice=True), reply=False)
        except Exception as exc:
            log.warning("matrix: could not say a room is unreadable: %s", exc)

    async def _apologise(self, reply: MatrixReply) -> None:
        try:
            await reply.clear_progress()
            await reply.send_error(SORRY)
        except Exception as exc:
            log.warning("matrix: could not send an apology: %s", type(exc).__name__)
