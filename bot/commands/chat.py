"""Threaded chat and `/ask` about an image: streamed answers, history kept per conversation.

Moderation: what users send is checked (access, blocklists, the model) before the rate limit and any
provider call. Answers, where a moderation model is configured, are checked when finished: streaming
stays (a reader sees the answer grow instead of waiting up to a minute) and a flagged answer is then
replaced by a notice, everywhere it was shown. Checking partial text as it streams would cost a model
call per edit and still judge sentences half-written. Where a scope wants nothing flagged ever visible,
even for seconds (strictness high), the answer is collected first, checked, and only then shown.
A flagged exchange is never kept in the conversation's history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bot.admission import admit_chat
from bot.chat_tools import JOB_REF, TOOL_SPECS, ChatTools, ToolOutcome
from bot.clock import MONOTONIC, Clock
from bot.config import Settings
from bot.conversation_images import ConversationImages, Picture
from bot.failures import chat_failure
from bot.images import ImageLimits, ImageRejected, check_input_image, shrink_for_vision
from bot.messages import Reply, Request
from bot.moderation.gate import Moderation
from bot.moderation.policy import Use
from bot.providers.base import ChatMessage, ChatOptions, ChatProvider, ProviderError
from bot.providers.catalogue import Catalogue, UnknownModel
from bot.providers.chat_stream import ChatEvent, Finished, ReasoningDelta, StreamInterrupted, TextDelta, ToolCall
from bot.ratelimit import RateLimiter
from bot.scope_limits import ScopeLimits
from bot.store.activity import ActivityStore
from bot.store.conversations import ConversationStore

log = logging.getLogger(__name__)
ASK_NO_IMAGE = "Attach an image, or reply to one, with `/ask <question>`, e.g. `/ask what does this chart show?`"
NOTHING_SAID = "Say something to chat about, e.g. `/chat what makes a good logo?`"
CUT_AT_LENGTH = "\n\n(The answer was cut off here: it reached the model's length limit. Ask me to go on.)"
INTERRUPTED = "\n\n(The answer was interrupted here: the model stopped sending. Ask again to get the rest.)"
VISION_IMAGES = 4  # the most images one question sends to the model
CHAT_TOOLS = "chat_tools"  # the scope's switches (bot.scope_limits.SWITCHES)
THINKING = "thinking"
THINKING_EVERY = 1.0  # seconds between updates of the "Thinking…" line
THINKING_KEPT = 1000  # characters of the latest reasoning passed to it
MADE_NOTE = "image made:"  # kept after an answer in the history, so a later turn can edit that image
TOOL_LIMIT = "error: no more tool calls for this message; answer the user in words now."


class ChatCommands:
    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        conversations: ConversationStore,
        limiter: RateLimiter,
        image_limits: ImageLimits,
        pictures: ConversationImages,
        moderation: Moderation,
        tools: ChatTools,
        scope_limits: ScopeLimits,
        activity: ActivityStore,
    ) -> None:
        self._settings = settings
        self._activity = activity  # who had each turn, for /usage top and export
        self._tools = tools
        self._scope_limits = scope_limits
        self._moderation = moderation
        self._catalogue = catalogue
        self._conversations = conversations
        self._limiter = limiter
        self._image_limits = image_limits
        self._pictures = pictures

    async def ask(self, request: Request, question: str, reply: Reply) -> bool:
        if not request.images:
            await reply.send_error(ASK_NO_IMAGE)
            return False
        return await self.chat(request, question.strip() or "Describe this image.", reply, with_images=True)

    async def chat(
        self, request: Request, text: str, reply: Reply, *, with_images: bool = False, thinking: bool = False
    ) -> bool:
        """Answer `text` in the request's conversation. Returns True when an answer was given and stored.
        `thinking` (`/think`, or the scope's switch): the model reasons first, shown collapsed, never kept."""
        refusal = await self._moderation.access(request, Use.CHAT)
        if refusal is not None:
            await reply.send_error(refusal)
            return False
        if not text.strip():
            await reply.send_error(NOTHING_SAID)
            return False
        if len(text) > self._settings.max_prompt_chars:
            await reply.send_error(
                f"That message is {len(text):,} characters; the limit is {self._settings.max_prompt_chars:,}."
            )
            return False
        try:
            images = await self._vision_images(request.images) if with_images else []
            provider, model = self._catalogue.resolve_chat(self._settings.chat_model)
        except (ImageRejected, UnknownModel) as exc:
            await reply.send_error(str(exc))
            return False
        admission = await admit_chat(self._limiter, request, self._settings.rate_limit_chat_per_user_per_minute, reply)
        if not admission.admitted:
            if admission.said is not None:  # told, not dropped silently: worth a line in the audit log
                await self._moderation.refused(request, admission.rule, admission.said)
            return False
        # After the rate limit: a flood of refused messages is slowed like any other.
        refusal = await self._moderation.screen(request, Use.CHAT, text.strip(), [picture.data for picture in images])
        if refusal is not None:
            await reply.send_error(refusal)
            return False
        history = await self._pictures.for_model(await self._conversations.history(request.conversation))
        question = ChatMessage("user", text.strip(), [picture.uri for picture in images])
        messages = [ChatMessage("system", await self._system_prompt(request)), *history, question]
        holds = await self._moderation.holds_answers(request)
        thinking = thinking or await self._scope_limits.switch(request.scope, THINKING)
        turn = Turn(provider, model, messages, request, reply, holds, thinking)
        await reply.ready()
        try:
            answer = await self._answer(turn)
        except (ProviderError, TimeoutError) as exc:
            log.warning("chat failed: %r", exc)
            await reply.send_error(chat_failure(exc))
            return False
        # Outside the provider's deadline: a check cut off by it would leave a flagged answer showing.
        notice = await self._moderation.check_answer(request, question.text, answer)
        if notice is not None:
            await (reply.send_text(notice) if holds else reply.replace_answer(notice))
            return False
        if holds:
            await reply.stream_text(_once(answer))  # the adapter splits a long answer as it does a stream
        # The history keeps references to files, never the images themselves.
        kept = ChatMessage("user", question.text, await self._pictures.keep(request.conversation, images))
        stored = answer + "".join(f"\n[{MADE_NOTE} {JOB_REF}{job_id}]" for job_id in turn.made)
        unused = await self._conversations.append(request.conversation, kept, ChatMessage("assistant", stored))
        await self._pictures.forget(unused)
        command = "ask" if with_images else "think" if thinking else "chat"
        await self._activity.record_turn(request.scope.key, request.user.key, request.user.name, command, model)
        return True

    async def _answer(self, turn: Turn) -> str:
        """The model's answer, streamed to the user as it comes (unless held for moderation). Offered tools,
        the model may call up to `chat_max_tool_calls` of them; each call's outcome goes back to it, and the
        text of every round makes up the answer."""
        tools = self._tools if await self._tools_on(turn.request) else None
        calls_left = self._settings.chat_max_tool_calls if tools is not None else 0
        parts: list[str] = []
        while True:
            options = ChatOptions(tools=TOOL_SPECS if calls_left > 0 else [], thinking=turn.thinking)
            calls: list[ToolCall] = []
            async with asyncio.timeout(self._settings.provider_deadline_seconds):
                events = turn.provider.stream_events(turn.messages, turn.model, options)
                text = await _show(answer_text(events, calls, ThinkingLine(turn.reply)), turn)
            parts.append(text)
            if not calls or tools is None:
                break
            turn.messages.append(ChatMessage("assistant", text, tool_calls=[call.to_openai() for call in calls]))
            for call in calls:
                if calls_left > 0:
                    calls_left -= 1
                    outcome = await tools.run(call, turn.request, turn.reply)
                else:
                    outcome = ToolOutcome(TOOL_LIMIT)
                if outcome.job_id is not None:
                    turn.made.append(outcome.job_id)
                turn.messages.append(ChatMessage("tool", outcome.text, tool_call_id=call.id))
        answer = "".join(parts)
        if not answer.strip() and not turn.made:
            raise ProviderError("empty answer", "The model gave an empty answer; rewording may help.")
        return answer

    async def _system_prompt(self, request: Request) -> str:
        persona = await self._scope_limits.persona(request.scope, request.channel)
        return persona or self._settings.chat_system_prompt

    async def _tools_on(self, request: Request) -> bool:
        return self._settings.chat_max_tool_calls > 0 and await self._scope_limits.switch(request.scope, CHAT_TOOLS)

    async def reset(self, request: Request, reply: Reply) -> None:
        await self._pictures.forget(await self._conversations.clear(request.conversation))
        await reply.send_text("Conversation cleared: I have forgotten what we said here.")

    async def _vision_images(self, images: list[bytes]) -> list[Picture]:
        return await vision_pictures(images, self._image_limits)


async def vision_pictures(images: list[bytes], limits: ImageLimits, most: int = VISION_IMAGES) -> list[Picture]:
    """The images checked and made small enough for a vision model (off the event loop)."""
    pictures = []
    for data in images[:most]:
        checked = await check_input_image(data, limits)
        small, mime = await shrink_for_vision(checked)
        pictures.append(Picture(small, mime))
    return pictures


async def _once(text: str) -> AsyncIterator[str]:
    yield text


@dataclass
class Turn:
    """One answer being made: what the model is sent (growing with tool rounds) and what it made."""

    provider: ChatProvider
    model: str
    messages: list[ChatMessage]
    request: Request
    reply: Reply
    holds: bool  # moderation holds the answer until it is checked: collect, do not stream
    thinking: bool = False
    made: list[str] = field(default_factory=list)  # job ids of images the tools made


async def _show(chunks: AsyncIterator[str], turn: Turn) -> str:
    """Stream one round's text, if it has any: a round that only calls tools posts no empty message."""
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        return ""
    rest = _prepend(first, chunks)
    if turn.holds:
        return "".join([chunk async for chunk in rest])
    return await turn.reply.stream_text(rest)


async def _prepend(first: str, chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    yield first
    async for chunk in chunks:
        yield chunk


class ThinkingLine:
    """Reasoning as it arrives, passed to the reply's "Thinking…" line at most once per THINKING_EVERY seconds."""

    def __init__(self, reply: Reply, clock: Clock = MONOTONIC) -> None:
        self._reply = reply
        self._clock = clock
        self._latest = ""  # the last THINKING_KEPT characters: a line shows only the end of long reasoning
        self._shown_at: float | None = None

    async def add(self, text: str) -> None:
        self._latest = (self._latest + text)[-THINKING_KEPT:]
        now = self._clock.now()
        if self._shown_at is None or now - self._shown_at >= THINKING_EVERY:
            self._shown_at = now
            await self._reply.show_thinking(self._latest)


async def answer_text(
    events: AsyncIterator[ChatEvent], calls: list[ToolCall] | None = None, thinking: ThinkingLine | None = None
) -> AsyncIterator[str]:
    """The answer's text from chat events; the tool calls go to `calls`, reasoning to `thinking`. An answer cut
    at the length limit, or broken off after some of it was shown, is kept and says so at its end; reasoning
    is never part of it."""
    said = False
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                said = True
                yield event.text
            elif isinstance(event, ReasoningDelta) and thinking is not None and not said:
                await thinking.add(event.text)
            elif isinstance(event, ToolCall) and calls is not None:
                calls.append(event)
            elif isinstance(event, Finished) and event.reason == "length":
                yield CUT_AT_LENGTH
    except StreamInterrupted as exc:
        if not said:
            raise
        log.warning("chat answer interrupted after it began: %s", exc)
        yield INTERRUPTED
