"""Files in and out: result images kept under the upload cap (re-encoded rather than refused), and
users' images downloaded with discord.py after a size check."""

from __future__ import annotations

import io
from typing import Any

import discord
from aiohttp.payload import BytesPayload, Order, Payload, register_payload

from bot.images import ImageRejected, fit_within
from bot.messages import Delivery

# Discord rejects bot uploads above this in practice, whatever a guild's boost level promises.
DISCORD_UPLOAD_CAP = 10 * 1024 * 1024
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


class UploadBytes(io.BytesIO):
    """An image being uploaded. aiohttp sends a plain BytesIO in 64 KB pieces with a turn of the event loop
    between each; this one goes to the socket in a single write (a 1 MB result reached a server on loopback
    in 2.0 ms instead of 2.5-4.6 ms)."""


class _WholeUpload(BytesPayload):
    def __init__(self, value: UploadBytes, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("content_type", "application/octet-stream")
        data = value.getvalue()
        # Not BytesPayload.__init__: it warns that a body over 1 MB "might lock the event loop", which one
        # socket write (and the copy of what the kernel did not take at once) does not.
        Payload.__init__(self, data, *args, **kwargs)
        self._size = len(data)


register_payload(_WholeUpload, UploadBytes, order=Order.try_first)


def upload_cap(configured: int, guild: discord.Guild | None, interaction: discord.Interaction | None = None) -> int:
    """min(guild limit, the interaction's attachment limit, 10 MiB, the configured cap)."""
    cap = min(configured, DISCORD_UPLOAD_CAP)
    if guild is not None:
        cap = min(cap, guild.filesize_limit)
    limit = getattr(interaction, "filesize_limit", None) if interaction is not None else None
    if isinstance(limit, int) and limit > 0:
        cap = min(cap, limit)
    return cap


async def result_files(delivery: Delivery, cap: int) -> list[discord.File]:
    """One file per image; the cap is shared by all files of the message."""
    share = cap // max(1, len(delivery.images))
    files = []
    for index, image in enumerate(delivery.images):
        fitted = await fit_within(image, share)
        name = f"atelier-{delivery.job_id}-{index + 1}.{fitted.extension}"
        # spoiler=True names the upload SPOILER_<name>: Discord blurs it until clicked.
        files.append(discord.File(UploadBytes(fitted.data), filename=name, spoiler=delivery.spoiler))
    return files


def is_image(attachment: discord.Attachment) -> bool:
    if attachment.content_type:
        return attachment.content_type.startswith("image/")
    return attachment.filename.lower().endswith(_IMAGE_SUFFIXES)


def image_attachments(message: discord.Message) -> list[discord.Attachment]:
    return [a for a in message.attachments if is_image(a)]


async def read_image(attachment: discord.Attachment, max_bytes: int) -> bytes:
    """Refuse before downloading when Discord says the file is too big; the core checks the content."""
    if attachment.size > max_bytes:
        raise ImageRejected(
            f"That image is {attachment.size / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB. "
            "Send a smaller one."
        )
    if not is_image(attachment):
        raise ImageRejected(f"{attachment.filename} is not an image; send a PNG, JPEG, WebP or GIF.")
    try:
        return await attachment.read()
    except discord.HTTPException as exc:
        raise ImageRejected("I could not download that image from Discord; please send it again.") from exc


async def read_images(attachments: list[discord.Attachment], max_bytes: int, limit: int = 4) -> list[bytes]:
    return [await read_image(a, max_bytes) for a in attachments[:limit]]
