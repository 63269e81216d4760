"""Images in a conversation: kept as files beside the results (`conv-<hash>.jpg`) and referenced by name from
the stored history, never stored inline; loaded again when the model's history is built. A file that has
expired or gone leaves a short note in its place, so the conversation goes on without it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from bot.messages import EXTENSIONS
from bot.providers.base import ChatMessage
from bot.providers.encoding import data_uri
from bot.results import ResultFiles

log = logging.getLogger(__name__)
PREFIX = "conv-"
GONE = "[image no longer available]"
_MIMES = {extension: mime for mime, extension in EXTENSIONS.items()}


@dataclass(frozen=True)
class Picture:
    """An image as the vision model gets it."""

    data: bytes
    mime: str

    @property
    def uri(self) -> str:
        return data_uri(self.data, self.mime)


def is_reference(image: str) -> bool:
    return image.startswith(PREFIX)


class ConversationImages:
    def __init__(self, files: ResultFiles) -> None:
        self._files = files

    async def keep(self, conversation: str, pictures: list[Picture]) -> list[str]:
        """File each picture; returns the references to store in the history. The name is derived from the
        conversation and the bytes, so one conversation's files never serve another's."""
        names = []
        for picture in pictures:
            name = await asyncio.to_thread(_name, conversation, picture)
            try:
                await self._files.keep(name, picture.data)
            except OSError as exc:  # a full disk costs the image later turns would see, not this answer
                log.warning("could not keep a conversation image: %s", exc)
            names.append(name)  # a file that is absent reads as "no longer available"
        return names

    async def for_model(self, history: list[ChatMessage]) -> list[ChatMessage]:
        """The stored history with its references turned back into images; a missing file becomes a note."""
        wanted = [image for message in history for image in message.images if is_reference(image)]
        if not wanted:
            return history
        loaded = dict(zip(wanted, await self._files.load_each(wanted), strict=True))
        # Base64 of a long history's images is megabytes of work: off the event loop.
        return await asyncio.to_thread(lambda: [_resolved(message, loaded) for message in history])

    async def forget(self, references: list[str]) -> None:
        """Delete files no stored message refers to any more."""
        names = [name for name in references if is_reference(name)]
        if names:
            await self._files.delete(names)

    async def prune(self, days: int) -> int:
        """Files not used for `days` (kept again renews a file). Returns how many were deleted."""
        return await self._files.prune_prefixed(PREFIX, days)


def _name(conversation: str, picture: Picture) -> str:
    digest = hashlib.sha256(conversation.encode() + b"\0" + picture.data).hexdigest()[:32]
    return f"{PREFIX}{digest}.{EXTENSIONS.get(picture.mime, 'bin')}"


def _resolved(message: ChatMessage, loaded: dict[str, bytes | None]) -> ChatMessage:
    images, gone = [], 0
    for image in message.images:
        if not is_reference(image):
            images.append(image)  # a URI stored before references existed
        elif (data := loaded.get(image)) is not None:
            images.append(data_uri(data, _MIMES.get(image.rpartition(".")[2], "image/jpeg")))
        else:
            gone += 1
    if not gone:
        return ChatMessage(message.role, message.text, images)
    note = GONE if gone == 1 else f"[{gone} images no longer available]"
    return ChatMessage(message.role, f"{message.text}\n{note}".strip(), images)
