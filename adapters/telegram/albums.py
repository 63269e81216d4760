"""Albums: Telegram sends each photo of a media group as its own update, the caption on one of them. The
first part to arrive gathers the others until none has come for a moment; the album then runs as one
request with all its photos, and the other parts are not answered on their own."""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import Message

from adapters.telegram.media import InputImage, image_of
from bot.clock import Clock

MAX_ALBUMS = 1_000  # albums being gathered at once; beyond it, parts run alone rather than pile up


@dataclass
class _Album:
    last_part_at: float
    parts: list[Message] = field(default_factory=list)


class AlbumGatherer:
    def __init__(self, wait_seconds: float) -> None:
        self.wait_seconds = wait_seconds
        self._albums: dict[tuple[int, str], _Album] = {}

    async def gather(self, message: Message, clock: Clock) -> list[Message] | None:
        """For the first part of an album: all its parts (in order) once no new part came for
        `wait_seconds` on `clock`. For a later part: None, as it is in the first one's list.
        A message outside an album is its own list."""
        if message.media_group_id is None:
            return [message]
        key = (message.chat_id, message.media_group_id)
        album = self._albums.get(key)
        if album is not None:
            album.parts.append(message)
            album.last_part_at = clock.now()
            return None
        if len(self._albums) >= MAX_ALBUMS:
            return [message]
        album = self._albums[key] = _Album(clock.now(), [message])
        try:
            while (delay := album.last_part_at + self.wait_seconds - clock.now()) > 0:
                await clock.sleep(delay)
        finally:
            del self._albums[key]
        return sorted(album.parts, key=lambda part: part.message_id)


def captioned(parts: list[Message]) -> Message:
    """The part that says what to do with the album (Telegram puts the caption on one of them)."""
    return next((part for part in parts if part.caption), parts[0])


def album_images(parts: list[Message]) -> list[InputImage]:
    """Every part's image (a part that is not one, e.g. a video, is left out)."""
    images: list[InputImage] = []
    for part in parts:
        if part.video is None and (image := image_of(part)) is not None:
            images.append(image)
    return images
