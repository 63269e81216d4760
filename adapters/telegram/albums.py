"""Albums: Telegram sends each photo of a media group as its own update, the caption on one of them, and
with several webhook workers the parts may reach different processes. Every part is kept in the store
(bot.store.albums); each part's handler waits until none has come for a moment, then reads them all, and
only the handler of the captioned part (or of the first, without a caption) answers: the album runs as
one request with all its photos, and the other parts are not answered on their own."""

from __future__ import annotations

import json
import time

from telegram import Bot, Message

from adapters.telegram.media import InputImage, image_of
from bot.clock import Clock
from bot.store.albums import KEEP_SECONDS, AlbumStore

MIN_CHECK_SECONDS = 0.02  # how often, at most, a waiting part looks for new ones


class AlbumGatherer:
    def __init__(self, wait_seconds: float, store: AlbumStore) -> None:
        self.wait_seconds = wait_seconds
        self._store = store

    async def gather(self, message: Message, bot: Bot, clock: Clock) -> list[Message] | None:
        """For the part that answers the album: all its parts (in order) once no new part came for
        `wait_seconds` on `clock`. For the others: None. A message outside an album is its own list."""
        if message.media_group_id is None:
            return [message]
        chat, group = str(message.chat_id), message.media_group_id
        # Wall clock: other processes prune by it.
        await self._store.add(chat, group, message.message_id, json.dumps(message.to_dict()), time.time())
        # Counted, not timestamped: workers on other hosts need not agree on the time.
        seen, quiet_since = await self._store.count(chat, group), clock.now()
        step = max(self.wait_seconds / 4, MIN_CHECK_SECONDS)
        while (left := quiet_since + self.wait_seconds - clock.now()) > 0:
            await clock.sleep(min(step, left))
            if (count := await self._store.count(chat, group)) != seen:
                seen, quiet_since = count, clock.now()
        parts = [Message.de_json(json.loads(part), bot) for part in await self._store.parts(chat, group)]
        parts = [message if part.message_id == message.message_id else part for part in parts]
        if captioned(parts).message_id != message.message_id:
            return None  # another part's handler answers, in this process or another
        await self._store.forget_before(time.time() - KEEP_SECONDS)
        return parts


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
