"""Images in and out of the media repository. Results go up under the homeserver's `m.upload.size`
(re-encoded rather than refused) as `m.image` with its info and a thumbnail; users' images come down
through the bot (authenticated media), checked for size first, and go upstream as bytes, never as a URL."""

from __future__ import annotations

from typing import Any

from adapters.matrix.api import MatrixApi, MatrixError
from adapters.matrix.events import MediaRef
from bot.images import ImageRejected, fit_within, shrink_for_vision
from bot.messages import ResultImage
from bot.sizes import input_shape

THUMBNAIL_SIDE = 320  # what clients show in the timeline before the image is opened
TOO_LARGE = "M_TOO_LARGE"


async def image_content(api: MatrixApi, image: ResultImage, caption: str, name: str) -> dict[str, Any]:
    """Upload one result (and its thumbnail); the `m.image` content naming them, with the caption as body."""
    limit = await api.upload_limit()
    if limit:
        image = await fit_within(image, limit)
    try:
        url = await api.upload(image.data, image.mime, name)
    except MatrixError as exc:  # a proxy's body limit below what the homeserver says: try once, smaller
        if exc.code != TOO_LARGE:
            raise
        image = await fit_within(image, len(image.data) // 2)
        url = await api.upload(image.data, image.mime, name)
    info: dict[str, Any] = {"mimetype": image.mime, "size": len(image.data), "w": image.width, "h": image.height}
    thumbnail, mime = await shrink_for_vision(image.data, THUMBNAIL_SIDE)
    width, height = input_shape(thumbnail) or (image.width, image.height)
    thumbnail_url = url if thumbnail is image.data else await api.upload(thumbnail, mime, f"thumbnail-{name}")
    info["thumbnail_url"] = thumbnail_url
    info["thumbnail_info"] = {"mimetype": mime, "size": len(thumbnail), "w": width, "h": height}
    return {"msgtype": "m.image", "body": caption or name, "filename": name, "url": url, "info": info}


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
    return data
