"""`/describe` on an attached or replied-to image: four numbered prompt ideas, each with a button that imagines
it (Midjourney's /describe). A vision call, counted like chat: access, the chat rate limit, moderation of the
image; no image quota until an idea is imagined."""

from __future__ import annotations

import asyncio
import logging

from bot.admission import admit_chat
from bot.commands.chat import vision_pictures
from bot.config import Settings
from bot.failures import chat_failure
from bot.images import ImageLimits, ImageRejected
from bot.messages import Reply, Request
from bot.moderation.gate import Moderation
from bot.moderation.policy import Use
from bot.prompt_ideas import DESCRIBE_INSTRUCTIONS, ideas_text, parse_ideas
from bot.providers.base import ChatMessage, ProviderError
from bot.providers.catalogue import Catalogue, UnknownModel
from bot.providers.chat_stream import answer_of
from bot.ratelimit import RateLimiter
from bot.store.ideas import IdeaStore

log = logging.getLogger(__name__)
LOOK_INSTRUCTIONS = (
    "Describe the image for someone who cannot see it: the subject, the setting, the style or medium, the "
    "colours, the lighting, the composition and any text in it. At most 120 words, no preamble."
)
IDEA_CHARS = 400  # four fit in one Discord message with their numbers
DESCRIBE_NO_IMAGE = "Attach an image, or reply to one, with `/describe` to get four prompt ideas for it."
NO_IDEAS = "The model gave no prompt ideas for this image. Please try again."
IDEAS_GONE = "Those prompt ideas are no longer kept. Run /describe again."
OTHER_CHAT = "Those prompt ideas belong to another chat."


class DescribeCommand:
    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        limiter: RateLimiter,
        image_limits: ImageLimits,
        moderation: Moderation,
        ideas: IdeaStore,
    ) -> None:
        self._settings = settings
        self._catalogue = catalogue
        self._limiter = limiter
        self._image_limits = image_limits
        self._moderation = moderation
        self._ideas = ideas

    async def describe(self, request: Request, reply: Reply) -> list[str]:
        """The prompts shown (with their buttons), or [] when none could be given (the user told)."""
        refusal = await self._moderation.access(request, Use.CHAT)
        if refusal is not None:
            await reply.send_error(refusal)
            return []
        if not request.images:
            await reply.send_error(DESCRIBE_NO_IMAGE)
            return []
        try:
            pictures = await vision_pictures(request.images, self._image_limits, most=1)
            provider, model = self._catalogue.resolve_chat(self._settings.chat_model)
        except (ImageRejected, UnknownModel) as exc:
            await reply.send_error(str(exc))
            return []
        rate = self._settings.rate_limit_chat_per_user_per_minute
        admission = await admit_chat(self._limiter, request, rate, reply)
        if not admission.admitted:
            if admission.said is not None:
                await self._moderation.refused(request, admission.rule, admission.said)
            return []
        refusal = await self._moderation.screen(request, Use.CHAT, "/describe", [p.data for p in pictures])
        if refusal is not None:
            await reply.send_error(refusal)
            return []
        messages = [
            ChatMessage("system", DESCRIBE_INSTRUCTIONS),
            ChatMessage("user", "Four prompts for this image.", [pictures[0].uri]),
        ]
        try:
            async with asyncio.timeout(self._settings.provider_deadline_seconds):
                answer = await answer_of(provider.stream_events(messages, model))
        except (ProviderError, TimeoutError) as exc:
            log.warning("describe failed: %r", exc)
            await reply.send_error(chat_failure(exc))
            return []
        prompts = parse_ideas(answer, max_chars=min(IDEA_CHARS, self._settings.max_prompt_chars))
        if not prompts:
            log.warning("describe: no prompts in the model's answer (%d characters)", len(answer))
            await reply.send_error(NO_IDEAS)
            return []
        idea_id = await self._ideas.save(request.scope.key, prompts)
        await reply.send_ideas(ideas_text(prompts), idea_id, len(prompts))
        return prompts

    async def look(self, image: bytes) -> str:
        """A plain description of one image, for the chat model's describe_image tool."""
        [picture] = await vision_pictures([image], self._image_limits, most=1)
        provider, model = self._catalogue.resolve_chat(self._settings.chat_model)
        messages = [
            ChatMessage("system", LOOK_INSTRUCTIONS),
            ChatMessage("user", "Describe this image.", [picture.uri]),
        ]
        async with asyncio.timeout(self._settings.provider_deadline_seconds):
            text = await answer_of(provider.stream_events(messages, model))
        return text.strip() or "(the model saw nothing to describe)"

    async def idea(self, idea_id: str, number: int, request: Request, reply: Reply) -> str | None:
        """The prompt of idea `number` (from 1), or None (the user told why)."""
        kept = await self._ideas.get(idea_id)
        if kept is None:
            await reply.send_error(IDEAS_GONE)
            return None
        scope_key, prompts = kept
        if scope_key != request.scope.key:
            await reply.send_error(OTHER_CHAT)
            return None
        if not 1 <= number <= len(prompts):
            await reply.send_error(f"There are {len(prompts)} ideas: pick one from 1 to {len(prompts)}.")
            return None
        return prompts[number - 1]
