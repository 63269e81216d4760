"""Threaded chat and `/ask` about an image: streamed answers, history kept per conversation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot.images import ImageRejected, check_input_image, shrink_for_vision
from bot.messages import Reply, Request
from bot.providers.base import ChatMessage, ProviderError
from bot.providers.catalogue import UnknownModel
from bot.providers.http import data_uri

if TYPE_CHECKING:
    from bot.core import Atelier

log = logging.getLogger(__name__)
ASK_NO_IMAGE = "Attach an image, or reply to one, with `/ask <question>`, e.g. `/ask what does this chart show?`"


async def ask(core: Atelier, request: Request, question: str, reply: Reply) -> bool:
    if not request.images:
        await reply.send_error(ASK_NO_IMAGE)
        return False
    return await chat(core, request, question or "Describe this image.", reply, with_images=True)


async def chat(core: Atelier, request: Request, text: str, reply: Reply, *, with_images: bool = False) -> bool:
    """Answer `text` in the request's conversation. Returns True when an answer was given and stored."""
    if not text.strip():
        await reply.send_error("Say something to chat about, e.g. `/chat what makes a good logo?`")
        return False
    if len(text) > core.settings.max_prompt_chars:
        await reply.send_error(
            f"That message is {len(text):,} characters; the limit is {core.settings.max_prompt_chars:,}."
        )
        return False
    try:
        images = await _vision_images(core, request.images) if with_images else []
        provider, model = core.catalogue.resolve_chat(core.settings.chat_model)
    except (ImageRejected, UnknownModel) as exc:
        await reply.send_error(str(exc))
        return False
    limits = await core.scope_limits.for_scope(request.scope)
    wait = core.limiter.admit(request.asker, limits.rate_per_minute)
    if wait is not None:
        await reply.send_error(f"Slow down a little: try again in {max(1, round(wait))}s.")
        return False
    history = await core.store.conversations.history(request.conversation)
    question = ChatMessage("user", text.strip(), images)
    messages = [ChatMessage("system", core.settings.chat_system_prompt), *history, question]
    try:
        async with asyncio.timeout(core.settings.provider_deadline_seconds):
            answer = await reply.stream_text(_non_empty(provider.stream_chat(messages, model)))
    except ProviderError as exc:
        log.warning("chat failed: %s", exc)
        await reply.send_error(exc.user_message.replace("image service", "chat service"))
        return False
    except TimeoutError:
        await reply.send_error("The answer took too long. Please try again.")
        return False
    await core.store.conversations.append(request.conversation, question, ChatMessage("assistant", answer))
    return True


async def _vision_images(core: Atelier, images: list[bytes]) -> list[str]:
    uris = []
    for data in images[:4]:
        checked = await check_input_image(data, core.runner.image_limits)
        small, mime = await shrink_for_vision(checked.data)
        uris.append(data_uri(small, mime))
    return uris


async def _non_empty(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    seen = False
    async for chunk in chunks:
        seen = True
        yield chunk
    if not seen:
        raise ProviderError("empty answer", "The model gave an empty answer. Please try rephrasing.")
