"""`--enhance`: the chat model rewrites a short image prompt into a detailed one, in the structure the Agnes
Image seed recommends (subject, scene, style, lighting, camera, composition, detail). Prompt help is a
nicety: when the chat model is unavailable the image is still made, from the prompt as written."""

from __future__ import annotations

import asyncio
import logging
import re

from bot.config import Settings
from bot.providers.base import ChatMessage, ProviderError
from bot.providers.catalogue import Catalogue, UnknownModel
from bot.providers.chat_stream import answer_of

log = logging.getLogger(__name__)

ENHANCE_INSTRUCTIONS = (
    "You turn a short image request into one detailed prompt for an image model. Keep the user's subject, "
    "intent and any words they want shown in the image exactly. Add, in this order: the main subject, the "
    "scene or environment, the visual style, the lighting, the camera angle, the composition and the level "
    "of detail. Write one paragraph of at most 80 words, in English, with no preamble, no quotes, no lists "
    "and no commentary: only the prompt."
)
ENHANCE_SECONDS = 20.0  # prompt help waits this long at most, then the prompt is used as written
_PREAMBLE = re.compile(r"^\s*(?:here(?:'s| is) (?:the|a|your) (?:detailed )?prompt:?|prompt:)\s*", re.IGNORECASE)


class PromptHelper:
    def __init__(self, settings: Settings, catalogue: Catalogue) -> None:
        self._settings = settings
        self._catalogue = catalogue

    async def enhance(self, prompt: str) -> str | None:
        """The detailed prompt, or None when the chat model could not give one."""
        messages = [ChatMessage("system", ENHANCE_INSTRUCTIONS), ChatMessage("user", prompt)]
        try:
            provider, model = self._catalogue.resolve_chat(self._settings.chat_model)
            async with asyncio.timeout(min(ENHANCE_SECONDS, self._settings.provider_deadline_seconds)):
                answer = await answer_of(provider.stream_events(messages, model))
        except (ProviderError, UnknownModel, TimeoutError) as exc:
            log.warning("prompt help failed, using the prompt as written: %r", exc)
            return None
        return _cleaned(answer, self._settings.max_prompt_chars)


def _cleaned(text: str, limit: int) -> str | None:
    text = _PREAMBLE.sub("", text.strip()).strip().strip('"“”').strip()
    text = " ".join(text.split())  # one paragraph
    if not text:
        return None
    return text[:limit]
