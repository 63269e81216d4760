"""Images in and out: download what a user sent (by file_id, never handing out the file URL, which
carries the bot token) and choose how a result goes back (photo or document)."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Bot, Message
from telegram.error import TelegramError

from bot.images import ImageRejected, fit_within, shrink_for_vision
from bot.messages import ResultImage

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # what a bot may download from Telegram
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_SIDES = 10_000  # width + height
MAX_PHOTO_RATIO = 20
MAX_CAPTION = 1024


@dataclass(frozen=True)
class InputImage:
    file_id: str
    file_size: int | None


ANIMATED = (
    "Animated stickers, video stickers and GIFs can't be used as images. "
    "Send a photo, an image file or a static sticker instead."
)


def image_of(message: Message | None) -> InputImage | None:
    """The image a message carries: its largest photo size, a static sticker (WebP), or a document that
    is an image. An animation or an animated sticker is refused with a message saying so."""
    if message is None:
        return None
    if message.photo:
        largest = message.photo[-1]
        return InputImage(largest.file_id, largest.file_size)
    sticker = message.sticker
    if sticker is not None:
        if sticker.is_animated or sticker.is_video:
            raise ImageRejected(ANIMATED)
        return InputImage(sticker.file_id, sticker.file_size)
    if message.animation is not None:  # a GIF: Telegram carries it as an MP4 (and as a document too)
        raise ImageRejected(ANIMATED)
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return InputImage(document.file_id, document.file_size)
    return None


def input_image(message: Message) -> InputImage | None:
    """The message's own image, else the image of the message it replies to."""
    return image_of(message) or image_of(message.reply_to_message)


def blend_images(sent: list[InputImage], message: Message) -> list[InputImage]:
    """`/blend`'s images: the album or photo sent with it, then the photo it replies to (once)."""
    replied = image_of(message.reply_to_message)
    if replied is None or any(image.file_id == replied.file_id for image in sent):
        return sent
    return [*sent, replied]


async def download(bot: Bot, image: InputImage) -> bytes:
    _check_size(image.file_size)
    try:
        file = await bot.get_file(image.file_id)
        _check_size(file.file_size)
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        # Never repeat the error text: the file URL (and so the token) may be in it.
        raise ImageRejected("I could not download that image from Telegram. Please send it again.") from exc
    _check_size(len(data))
    return data


def _check_size(size: int | None) -> None:
    if size is not None and size > MAX_DOWNLOAD_BYTES:
        raise ImageRejected(
            f"That file is {size / 1_048_576:.1f} MB; Telegram lets bots download files up to "
            f"{MAX_DOWNLOAD_BYTES // 1_048_576} MB. Please send a smaller image."
        )


def fits_as_photo(image: ResultImage) -> bool:
    """Telegram's photo limits; anything beyond goes as a document instead of failing."""
    short, long = sorted((max(image.width, 1), max(image.height, 1)))
    return (
        len(image.data) <= MAX_PHOTO_BYTES
        and image.width + image.height <= MAX_PHOTO_SIDES
        and long / short <= MAX_PHOTO_RATIO
    )


SPOILER_MAX_SIDE = 4096  # width + height stays within MAX_PHOTO_SIDES


async def as_photo(image: ResultImage) -> ResultImage:
    """An image that fits Telegram's photo limits: only photos can go behind a spoiler (documents have
    none), so a flagged result too big for a photo is sent reduced rather than openly as a file."""
    if fits_as_photo(image):
        return image
    data, mime = await shrink_for_vision(image.data, SPOILER_MAX_SIDE)
    scale = min(1.0, SPOILER_MAX_SIDE / max(image.width, image.height, 1))
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    return await fit_within(ResultImage(data, mime, width, height), MAX_PHOTO_BYTES)


def trim_caption(caption: str, limit: int = MAX_CAPTION) -> str:
    """Captions are limited in UTF-16 code units, like all Telegram text."""
    if utf16_len(caption) <= limit:
        return caption
    return fit_utf16(caption, limit - 1).rstrip() + "…"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit_utf16(text: str, limit: int) -> str:
    """The longest prefix of text that is at most `limit` UTF-16 code units."""
    if utf16_len(text) <= limit:
        return text
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return text[:index]
    return text
