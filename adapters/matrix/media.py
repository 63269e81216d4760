"""Images in and out of the media repository. Results go up under the homeserver's `m.upload.size`
(re-encoded rather than refused) as `m.image` with its info and a thumbnail; users' images come down
through the bot (authenticated media), checked for size first, and go upstream as bytes, never as a URL.
In an encrypted room each file is encrypted before upload (AES-CTR, the keys in the encrypted event)."""

from __future__ import annotations

import asyncio
from typing import Any

from nio.crypto.attachments import decrypt_attachment, encrypt_attachment
from nio.exceptions import EncryptionError

from adapters.matrix.api import MatrixApi, MatrixError
from adapters.matrix.events import MediaRef
from bot.images import ImageRejected, fit_within, shrink_for_vision
from bot.messages import ResultImage
from bot.sizes import input_shape

THUMBNAIL_SIDE = 320  # what clients show in the timeline before the image is opened
TOO_LARGE = "M_TOO_LARGE"
SPOILER = "⚠️ Flagged as sensitive: open the file to see it."


async def image_content(
    api: MatrixApi, image: ResultImage, caption: str, name: str, *, encrypted: bool = False, spoiler: bool = False
) -> dict[str, Any]:
    """Upload one result (and its thumbnail); the `m.image` content naming them, with the caption as body.
    A flagged result a room shows behind a spoiler: Matrix images have none, so it goes as a file (clients
    show its name, not the picture) with no thumbnail."""
    limit = await api.upload_limit()
    if limit:
        image = await fit_within(image, limit)
    try:
        file = await _upload(api, image.data, image.mime, name, encrypted)
    except MatrixError as exc:  # a proxy's body limit below what the homeserver says: try once, smaller
        if exc.code != TOO_LARGE:
            raise
        image = await fit_within(image, len(image.data) // 2)
        file = await _upload(api, image.data, image.mime, name, encrypted)
    if spoiler:
        content = {"msgtype": "m.file", "body": f"{SPOILER} {caption}".strip(), "filename": name}
        return content | _file_keys(file, encrypted) | {"info": {"mimetype": image.mime, "size": len(image.data)}}
    info: dict[str, Any] = {"mimetype": image.mime, "size": len(image.data), "w": image.width, "h": image.height}
    thumbnail, mime = await shrink_for_vision(image.data, THUMBNAIL_SIDE)
    width, height = input_shape(thumbnail) or (image.width, image.height)
    small = file if thumbnail is image.data else await _upload(api, thumbnail, mime, f"thumbnail-{name}", encrypted)
    info["thumbnail_info"] = {"mimetype": mime, "size": len(thumbnail), "w": width, "h": height}
    info |= {f"thumbnail_{key}": value for key, value in _file_keys(small, encrypted).items()}
    return {"msgtype": "m.image", "body": caption or name, "filename": name, "info": info} | _file_keys(file, encrypted)


async def file_content(api: MatrixApi, data: bytes, mime: str, name: str, caption: str, *, encrypted: bool) -> dict:
    """Upload a file made for the user (a CSV export); the `m.file` content naming it."""
    file = await _upload(api, data, mime, name, encrypted)
    info = {"mimetype": mime, "size": len(data)}
    return {"msgtype": "m.file", "body": caption or name, "filename": name, "info": info} | _file_keys(file, encrypted)


def _file_keys(file: dict[str, Any], encrypted: bool) -> dict[str, Any]:
    """How an event names an uploaded file: `url`, or `file` (with its keys) when it went up encrypted."""
    return {"file": file} if encrypted else {"url": file["url"]}


async def _upload(api: MatrixApi, data: bytes, mime: str, name: str, encrypted: bool) -> dict[str, Any]:
    """The uploaded file as an event names it: `{"url": mxc}`, with the keys when it went up encrypted."""
    if not encrypted:
        return {"url": await api.upload(data, mime, name)}
    ciphertext, keys = await asyncio.to_thread(encrypt_attachment, data)
    return {**keys, "url": await api.upload(ciphertext, "application/octet-stream", name), "mimetype": mime}


async def download_image(api: MatrixApi, media: MediaRef, max_bytes: int) -> bytes:
    """Refuse before downloading when the event says the file is too big; the core checks the content."""
    too_big = f"That image is too large; the limit is {max_bytes / 1_048_576:.0f} MB. Send a smaller one."
    if media.size is not None and media.size > max_bytes:
        raise ImageRejected(too_big)
    try:
        data = await api.download(media.url)
    except (MatrixError, TimeoutError) as exc:
        raise ImageRejected("I could not download that image from the homeserver; please send it again.") from exc
    if len(data) > max_bytes:
        raise ImageRejected(too_big)
    if media.keys is None:
        return data
    keys = media.keys
    try:
        return await asyncio.to_thread(decrypt_attachment, data, keys["key"]["k"], keys["hashes"]["sha256"], keys["iv"])
    except (EncryptionError, KeyError, TypeError) as exc:  # a wrong key or hash, or keys missing
        raise ImageRejected("I could not decrypt that image; please send it again.") from exc
