"""What each slash command, context menu, button and form does: defer first, turn the interaction into
a core Request, and answer through an InteractionReply. Every handler is guarded: a failure is logged
and the user gets a short ephemeral message; nothing reaches discord.py's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord.inflight import InFlight
from adapters.discord.reply import ChannelReply, InteractionReply, Pacing
from adapters.discord.requests import channel_conversation, dm_key, from_interaction, is_thread, thread_key
from adapters.discord.threads import ChatThreads
from adapters.discord.token_life import NotAcknowledged
from adapters.discord.uploads import image_attachments, read_image
from adapters.discord.views import (
    InstructionForm,
    buttons_view,
    form_id,
    instruction_form,
    parse_form_action,
    parse_form_id,
    submitted_text,
)
from bot.command import Cancel, Command, GenerationParams, Moderate, Reset
from bot.commands.actions import CHOOSE_REGION
from bot.failures import SORRY
from bot.images import ImageRejected
from bot.messages import NEEDS_INSTRUCTION, REGION_ACTIONS, Action, Reply
from bot.moderation.desk import ModVerb
from bot.parsing import UsageError, check_size

if TYPE_CHECKING:
    from bot.core import Atelier

log = logging.getLogger(__name__)

NO_IMAGE = "That message has no image attached. Use this on a message with a PNG, JPEG, WebP or GIF."
GONE_MESSAGE = "I cannot find that message any more (was it deleted?)."
REGION_CHOOSER = f"{CHOOSE_REGION} Any other shape: `/edit` with a `mask` image (white where it may change)."


def _seen(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class AtelierInteractions:
    def __init__(
        self, core: Atelier, threads: ChatThreads, pacing: Pacing, in_flight: InFlight, open_forms: int = 512
    ) -> None:
        self.core = core
        self.threads = threads
        self.pacing = pacing
        self.in_flight = in_flight
        # Target messages of open forms (a restart falls back to fetching them by id).
        self._forms: OrderedDict[str, discord.Message] = OrderedDict()
        self._open_forms = open_forms

    # -------------------------------------------------------------------------------- plumbing

    @property
    def _max_input(self) -> int:
        return self.core.settings.max_input_image_bytes

    def reply(self, interaction: discord.Interaction, **options: object) -> InteractionReply:
        return InteractionReply(
            interaction,
            self.pacing,
            self.core.store.conversations,
            on_status=self.core.note_status,
            **options,  # type: ignore[arg-type]
        )

    def deferred(
        self, interaction: discord.Interaction, *, ephemeral: bool = False, **options: object
    ) -> InteractionReply:
        """Acknowledge at once (Discord allows 3 s) while the command goes on: its first words to Discord wait
        for the acknowledgement (TokenLife.acknowledged), and a job waits for it before its provider call, so
        the round trip costs the answer nothing (about 2 ms) and a refused one costs nothing either."""
        acknowledging = asyncio.ensure_future(interaction.response.defer(thinking=True, ephemeral=ephemeral))
        acknowledging.add_done_callback(_seen)  # a refusal no one waited for (nothing was sent) is not an error
        return self.reply(interaction, ephemeral=ephemeral, acknowledging=acknowledging, **options)

    @contextlib.asynccontextmanager
    async def guarded(self, what: str, reply: Reply | None) -> AsyncIterator[None]:
        try:
            with self.in_flight.track():
                yield
        except NotAcknowledged as exc:  # nothing can reach the member: say it once, for the operator
            log.warning("discord %s: could not acknowledge the interaction in time (%s)", what, exc)
        except Exception:
            log.exception("discord %s failed", what)
            if reply is not None:
                with contextlib.suppress(Exception):
                    await reply.send_error(SORRY)

    # -------------------------------------------------------------------------------- images

    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: str,
        size: str | None,
        seed: int | None,
        model: str | None,
        avoid: str | None,
        enhance: bool = False,
        images: int | None = None,
    ) -> None:
        reply = self.deferred(interaction)
        async with self.guarded("/imagine", reply):
            try:
                chosen = check_size(size, self.core.settings.size_allow_list) if size else None
            except UsageError as exc:
                await reply.send_error(str(exc))
                return
            params = GenerationParams(prompt, chosen, seed, model or None, avoid or None, enhance=enhance, count=images)
            await self.core.imagine(from_interaction(interaction), params, reply)
            await reply.finish()

    async def edit(
        self,
        interaction: discord.Interaction,
        instruction: str,
        image: discord.Attachment,
        *,
        reference: discord.Attachment | None = None,
        mask: discord.Attachment | None = None,
        model: str | None = None,
    ) -> None:
        reply = self.deferred(interaction)
        async with self.guarded("/edit", reply):
            try:
                images = [await read_image(each, self._max_input) for each in (image, reference) if each]
                mask_data = await read_image(mask, self._max_input) if mask else None
            except ImageRejected as exc:
                await reply.send_error(str(exc))
                return
            request = from_interaction(interaction, images=images)
            request.mask = mask_data
            await self.core.edit(request, GenerationParams(prompt=instruction, model=model or None), reply)
            await reply.finish()

    async def blend(
        self,
        interaction: discord.Interaction,
        attachments: list[discord.Attachment],
        prompt: str,
        size: str | None,
        model: str | None,
    ) -> None:
        reply = self.deferred(interaction)
        async with self.guarded("/blend", reply):
            try:
                chosen = check_size(size, self.core.settings.size_allow_list) if size else None
                images = [await read_image(each, self._max_input) for each in attachments]
            except (UsageError, ImageRejected) as exc:
                await reply.send_error(str(exc))
                return
            params = GenerationParams(prompt, chosen, model=model or None)
            await self.core.blend(from_interaction(interaction, images=images), params, reply)
            await reply.finish()

    # ---------------------------------------------------------------------------------- chat

    async def ask(self, interaction: discord.Interaction, question: str, image: discord.Attachment) -> None:
        conversation = channel_conversation(interaction.channel, f"discord:ask:{interaction.id}")
        reply = self.deferred(interaction, conversation=conversation)
        async with self.guarded("/ask", reply):
            try:
                data = await read_image(image, self._max_input)
            except ImageRejected as exc:
                await reply.send_error(str(exc))
                return
            async with self.threads.turn(conversation):
                await self.core.ask(from_interaction(interaction, conversation, [data]), question, reply)
            await reply.finish()

    async def describe(self, interaction: discord.Interaction, image: discord.Attachment) -> None:
        reply = self.deferred(interaction)
        async with self.guarded("/describe", reply):
            try:
                data = await read_image(image, self._max_input)
            except ImageRejected as exc:
                await reply.send_error(str(exc))
                return
            await self.core.describe(from_interaction(interaction, images=[data]), reply)
            await reply.finish()

    async def chat(self, interaction: discord.Interaction, message: str, *, thinking: bool = False) -> None:
        reply = self.deferred(interaction)
        async with self.guarded("/chat", reply):
            channel = interaction.channel
            target: Reply = reply
            if interaction.guild is None:
                conversation = dm_key(interaction.user.id)
            elif is_thread(channel) and channel is not None:
                conversation = thread_key(channel.id)
                await self.threads.adopt(channel.id)
            else:
                thread = await self._open_thread(interaction, reply, message)
                if thread is not None:
                    conversation = thread_key(thread.id)
                    target = ChannelReply(
                        thread, self.pacing, self.core.store.conversations, errors=reply, guild=interaction.guild
                    )
                else:  # no thread here: the conversation lives in the reply chain of the answer
                    conversation = f"discord:chat:{interaction.id}"
                    reply.conversation = conversation
            async with self.threads.turn(conversation):
                await self.core.chat(from_interaction(interaction, conversation), message, target, thinking=thinking)
            await reply.finish()

    async def _open_thread(
        self, interaction: discord.Interaction, reply: InteractionReply, message: str
    ) -> discord.Thread | None:
        channel = interaction.channel
        if not isinstance(channel, discord.TextChannel) or not message.strip():
            return None
        quote = discord.utils.escape_mentions(message.strip())
        if len(quote) > 1800:
            quote = quote[:1800] + "…"
        starter = await reply.post(f"💬 **{interaction.user.display_name}**: {quote}")
        title = message.strip().splitlines()[0][:90] or "Chat"
        try:
            thread = await channel.create_thread(name=title, message=starter, auto_archive_duration=1440)
        except discord.HTTPException as exc:
            log.warning("could not open a chat thread (%s); answering here instead", exc.status)
            return None
        await self.threads.adopt(thread.id)
        return thread

    # ----------------------------------------------------------------------- plain commands

    async def simple(self, interaction: discord.Interaction, command: Command) -> None:
        """/usage, /models, /help, /settings, /cancel, /reset: private answers, through the core's door."""
        reply = self.deferred(interaction, ephemeral=True)
        async with self.guarded(type(command).__name__, reply):
            request = from_interaction(interaction)
            if isinstance(command, Reset):
                if interaction.guild is not None and not is_thread(interaction.channel):
                    await reply.send_error("Use /reset inside a chat thread (or in a DM with me).")
                    return
                if interaction.guild is None:
                    request.conversation = dm_key(interaction.user.id)
            await self.core.run(command, request, reply)
            await reply.finish("Cancelling your running job…" if isinstance(command, Cancel) else "Done.")

    async def mod(self, interaction: discord.Interaction, command: Moderate, channel_id: int | None = None) -> None:
        """/mod subcommands: private answers; `channel_id` names another channel than this one for a rule."""
        reply = self.deferred(interaction, ephemeral=True)
        async with self.guarded("/mod", reply):
            request = from_interaction(interaction)
            if channel_id is not None:
                request.channel = str(channel_id)
            await self.core.run(command, request, reply)
            await reply.finish("Done.")

    # ---------------------------------------------------------------------- context menus

    async def edit_image_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self._open_form(
            interaction, message, "edit", "Edit image", "What should change?", "e.g. make it snowy", required=True
        )

    async def ask_image_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self._open_form(
            interaction,
            message,
            "ask",
            "Ask about image",
            "Your question (optional)",
            "e.g. what does this chart show? Empty: describe it.",
            required=False,
        )

    async def _open_form(
        self,
        interaction: discord.Interaction,
        message: discord.Message,
        kind: str,
        title: str,
        label: str,
        placeholder: str,
        *,
        required: bool,
    ) -> None:
        async with self.guarded(title, None):
            # A form must be the first answer, so only a cheap local check comes before it.
            if not image_attachments(message):
                await interaction.response.send_message(NO_IMAGE, ephemeral=True)
                return
            custom_id = form_id(kind, message.channel.id, message.id)
            self._forms[custom_id] = message
            while len(self._forms) > self._open_forms:
                self._forms.popitem(last=False)
            form = InstructionForm(custom_id, title, label, placeholder, required=required)
            await interaction.response.send_modal(form)

    # ------------------------------------------------------------------------------- buttons

    async def on_action(self, interaction: discord.Interaction, action: Action, job_id: str) -> None:
        if action in NEEDS_INSTRUCTION or action == Action.REGION:
            async with self.guarded(f"{action} button", None):
                # One indexed row read, well inside the 3 s a form has: no form for another chat's job.
                refusal = await self.core.button_refusal(job_id, from_interaction(interaction))
                if refusal is not None:
                    await interaction.response.send_message(refusal, ephemeral=True)
                elif action == Action.REGION:  # which part first (only the presser sees it), then a form
                    view = buttons_view(list(REGION_ACTIONS), job_id)
                    await interaction.response.send_message(REGION_CHOOSER, view=view, ephemeral=True)
                else:
                    await interaction.response.send_modal(instruction_form(action, job_id))
            return
        if action == Action.CANCEL:
            # A silent acknowledgement: the job's own status message shows the outcome.
            quiet = self.reply(interaction, ephemeral=True, thinking=False)
            async with self.guarded("Cancel button", quiet):
                await interaction.response.defer()
                await self.core.action(action, job_id, from_interaction(interaction), quiet)
            return
        private = action == Action.CHART  # under /usage, whose answers are private: so is the chart
        reply = self.deferred(interaction, ephemeral=private)
        async with self.guarded(f"{action} button", reply):
            await self.core.action(action, job_id, from_interaction(interaction), reply)
            await reply.finish()

    async def on_mod(self, interaction: discord.Interaction, verb: ModVerb, item_id: int) -> None:
        """A button in the moderators' channel; the core checks the presser moderates this server."""
        reply = self.deferred(interaction, ephemeral=True)
        async with self.guarded(f"{verb} moderation button", reply):
            await self.core.moderate(verb, item_id, from_interaction(interaction), reply)
            await reply.finish("Done.")

    # --------------------------------------------------------------------------------- forms

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Form submissions, by custom_id (works for forms opened before a restart)."""
        if interaction.type != discord.InteractionType.modal_submit:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        parsed = parse_form_id(str(data.get("custom_id", "")))
        if parsed is None:
            return
        kind, parts = parsed
        text = submitted_text(data)  # type: ignore[arg-type]
        if kind == "job" and len(parts) in (1, 2):
            action = Action.EDIT if len(parts) == 1 else parse_form_action(parts[1])
            if action is not None:
                await self._edit_job(interaction, parts[0], text, action)
        elif kind in ("edit", "ask") and len(parts) == 2 and all(p.isdigit() for p in parts):
            await self._on_message_form(interaction, kind, int(parts[0]), int(parts[1]), text)

    async def _edit_job(self, interaction: discord.Interaction, job_id: str, instruction: str, action: Action) -> None:
        reply = self.deferred(interaction)
        async with self.guarded(f"{action} form", reply):
            await self.core.action(action, job_id, from_interaction(interaction), reply, instruction=instruction)
            await reply.finish()

    async def _on_message_form(
        self, interaction: discord.Interaction, kind: str, channel_id: int, message_id: int, text: str
    ) -> None:
        # An edit answers as a reply to the image's message; its status and errors stay private.
        reply = self.deferred(interaction, ephemeral=kind == "edit")
        async with self.guarded(f"{kind} form", reply):
            target = await self._form_target(interaction, form_id(kind, channel_id, message_id), channel_id, message_id)
            if target is None:
                await reply.send_error(GONE_MESSAGE)
                return
            attachments = image_attachments(target)
            if not attachments:
                await reply.send_error(NO_IMAGE)
                return
            try:
                data = await read_image(attachments[0], self._max_input)
            except ImageRejected as exc:
                await reply.send_error(str(exc))
                return
            if kind == "edit":
                reply = self.reply(interaction, ephemeral=True, reply_to=target)
                request = from_interaction(interaction, images=[data])
                await self.core.edit(request, GenerationParams(prompt=text), reply)
            else:
                conversation = channel_conversation(interaction.channel, f"discord:ask:{interaction.id}")
                reply.conversation = conversation
                async with self.threads.turn(conversation):
                    await self.core.ask(from_interaction(interaction, conversation, [data]), text, reply)
            await reply.finish()

    async def _form_target(
        self, interaction: discord.Interaction, custom_id: str, channel_id: int, message_id: int
    ) -> discord.Message | None:
        remembered = self._forms.pop(custom_id, None)
        if remembered is not None:
            return remembered
        channel: object = interaction.channel if interaction.channel_id == channel_id else None
        channel = channel or interaction.client.get_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return None
        try:
            return await channel.fetch_message(message_id)
        except discord.HTTPException:
            return None
