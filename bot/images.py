"""Image hygiene: inputs and results are judged by content (Pillow), never by file name."""

from __future__ import annotations

import asyncio
import io
import warnings
from dataclasses import dataclass
from typing import NamedTuple

from PIL import Image, UnidentifiedImageError

from bot.config import Settings
from bot.image_metadata import strip_metadata
from bot.messages import ResultImage
from bot.png_check import SIGNATURE as PNG_SIGNATURE
from bot.png_check import DamagedPng, png_size

# Decoding runs in a thread above these sizes so a big file never stalls the event loop. Verifying a
# PNG result only walks its chunks (~0.1 ms per MB here), cheaper than the trip to a thread.
_INLINE_BYTES = 256 * 1024
_INLINE_VERIFY_BYTES = 8 * 1024 * 1024
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}

# We check pixel counts ourselves (with a friendlier message); keep Pillow's guard as a backstop.
Image.MAX_IMAGE_PIXELS = 200_000_000


class ImageRejected(Exception):
    """An image we will not use; the message is meant for the user."""


class ResultTooLarge(ImageRejected):
    """A provider's image over MAX_RESULT_BYTES; the message is meant for the user."""


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_megapixels: float = 40.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageLimits:
        """What a user may send."""
        return cls(settings.max_input_image_bytes, settings.max_input_megapixels)

    @classmethod
    def for_results(cls, settings: Settings) -> ImageLimits:
        """What a provider may send back: results have their own, larger limits."""
        return cls(settings.max_result_bytes, settings.max_result_megapixels)


def sniff_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"GIF8":
        return "image/gif"
    return "application/octet-stream"


class _Shape(NamedTuple):
    mime: str
    width: int
    height: int
    # EXIF orientation (1 = upright) and whether metadata remains that only re-encoding removes (WebP).
    orientation: int = 1
    embedded_metadata: bool = False


# EXIF orientation -> the transpose that shows the picture upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG = 0x0112
_EMBEDDED_KEYS = ("exif", "xmp", "XML:com.adobe.xmp")


def _check_pixels(width: int, height: int, limits: ImageLimits) -> None:
    if width * height > limits.max_megapixels * 1_000_000:
        raise ImageRejected(
            f"That image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {limits.max_megapixels:.0f} megapixels."
        )


def _inspect(data: bytes, limits: ImageLimits) -> _Shape:
    """Fully decoded, so a damaged file is refused before anyone sees it."""
    _check_size(data, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                _check_pixels(width, height, limits)
                mime = _FORMATS.get(image.format or "")
                if mime is None:
                    raise ImageRejected(f"{image.format} images are not supported; send a PNG, JPEG, WebP or GIF.")
                image.load()
                orientation = image.getexif().get(_ORIENTATION_TAG, 1) if "exif" in image.info else 1
                embedded = image.format == "WEBP" and any(key in image.info for key in _EMBEDDED_KEYS)
    except ImageRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("That file is not an image I can read; send a PNG, JPEG, WebP or GIF.") from None
    except (OSError, SyntaxError, ValueError):
        raise ImageRejected("That image is damaged or truncated; please send it again.") from None
    return _Shape(mime, width, height, orientation if orientation in _UPRIGHT else 1, embedded)


def _orientation(exif: bytes | None) -> int:
    if not exif:
        return 1
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        value = parsed.get(_ORIENTATION_TAG, 1)
    except Exception:  # an unreadable EXIF block only means there is no orientation to apply
        return 1
    return value if value in _UPRIGHT else 1


def _clean_input(data: bytes, limits: ImageLimits) -> bytes:
    """A user's image as it may go upstream: checked, upright, and without metadata (GPS and the rest).
    Metadata is cut out losslessly; pixels are re-encoded only to turn the picture upright (or for WebP
    metadata), so a clean, upright file comes back as the very same bytes."""
    _check_size(data, limits)
    stripped = strip_metadata(data)
    shape = _inspect(stripped.data, limits)
    orientation = _orientation(stripped.exif) if stripped.exif else shape.orientation
    if orientation == 1 and not shape.embedded_metadata:
        return stripped.data
    return _reencode_upright(stripped.data, orientation)


def _reencode_upright(data: bytes, orientation: int) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        kind, icc = image.format or "PNG", image.info.get("icc_profile")
        lossless = kind == "WEBP" and b"VP8L" in data[12:16]
        upright = image.transpose(_UPRIGHT[orientation]) if orientation in _UPRIGHT else image.copy()
    out = io.BytesIO()
    options: dict[str, object] = {"icc_profile": icc} if icc else {}
    if kind == "JPEG":
        upright.save(out, "JPEG", quality=95, **options)
    elif kind == "WEBP":
        upright.save(out, "WEBP", lossless=lossless, quality=95, **options)
    elif kind == "GIF":
        upright.save(out, "GIF")
    else:
        upright.save(out, "PNG", **options)
    return out.getvalue()


def _check_size(data: bytes, limits: ImageLimits) -> None:
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            f"That image is {len(data) / 1_048_576:.1f} MB; the limit is {limits.max_bytes / 1_048_576:.0f} MB."
        )


def _check_result(data: bytes, limits: ImageLimits) -> _Shape:
    """A PNG (what providers send) by its chunk walk alone, no pixel inflated: megabytes of text chunks (a
    ComfyUI workflow), which Pillow would refuse, are just more chunks to it. Other formats are decoded."""
    if len(data) > limits.max_bytes:
        raise ResultTooLarge(
            f"The provider's image is {len(data) / 1_048_576:.1f} MB, over this bot's "
            f"{limits.max_bytes / 1_048_576:.0f} MB limit for results."
        )
    if not data.startswith(PNG_SIGNATURE):
        return _inspect(data, limits)
    try:
        width, height = png_size(data)
    except DamagedPng:
        raise ImageRejected("That image is damaged or truncated; please send it again.") from None
    _check_pixels(width, height, limits)
    return _Shape("image/png", width, height)


async def check_input_image(data: bytes, limits: ImageLimits) -> bytes:
    """A user's image: size, format and pixel count checked, fully decoded to be sure it is sound.
    Returns the bytes to send upstream (and to keep): upright, with EXIF, GPS and other metadata
    removed; the very same bytes when there was nothing to change."""
    if len(data) <= _INLINE_BYTES:
        return _clean_input(data, limits)
    return await asyncio.to_thread(_clean_input, data, limits)


async def check_result_image(data: bytes, limits: ImageLimits) -> ResultImage:
    """A provider's image: must be a real, intact image before anyone sees it."""
    if not data:
        raise ImageRejected("empty image")
    if len(data) <= (_INLINE_VERIFY_BYTES if sniff_mime(data) == "image/png" else _INLINE_BYTES):
        shape = _check_result(data, limits)
    else:
        shape = await asyncio.to_thread(_check_result, data, limits)
    return ResultImage(data, shape.mime, shape.width, shape.height)


def _shrink(data: bytes, max_side: int) -> tuple[bytes, str]:
    with Image.open(io.BytesIO(data)) as image:
        if max(image.size) <= max_side and image.format in ("PNG", "JPEG", "WEBP"):
            return data, _FORMATS[image.format]
        image.thumbnail((max_side, max_side))
        out = io.BytesIO()
        if image.mode in ("RGBA", "LA", "P"):
            image.save(out, "PNG", optimize=False)
            return out.getvalue(), "image/png"
        image.convert("RGB").save(out, "JPEG", quality=90)
        return out.getvalue(), "image/jpeg"


async def shrink_for_vision(data: bytes, max_side: int = 1568) -> tuple[bytes, str]:
    """Vision models see at most ~1.5K pixels a side: send less, keep the history small."""
    return await asyncio.to_thread(_shrink, data, max_side)


def _reencode_to_fit(data: bytes, max_bytes: int) -> tuple[bytes, str]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        source = image.convert("RGBA" if transparent else "RGB")
    if transparent:
        return _shrink_png(source, max_bytes)  # JPEG would paint the transparency black
    scale = 1.0
    for quality in (92, 85, 78, 70, 62, 55):
        out = io.BytesIO()
        _scaled(source, scale).save(out, "JPEG", quality=quality, optimize=True)
        if out.tell() <= max_bytes:
            return out.getvalue(), "image/jpeg"
        if quality <= 70:
            scale *= 0.8
    raise ImageRejected("The image is too large to upload here even after compression.")


def _shrink_png(image: Image.Image, max_bytes: int) -> tuple[bytes, str]:
    scale = 1.0
    while scale > 0.1:
        out = io.BytesIO()
        _scaled(image, scale).save(out, "PNG", optimize=True)
        if out.tell() <= max_bytes:
            return out.getvalue(), "image/png"
        scale *= 0.8
    raise ImageRejected("The image is too large to upload here even after compression.")


def _scaled(image: Image.Image, scale: float) -> Image.Image:
    return image if scale == 1.0 else image.resize((int(image.width * scale), int(image.height * scale)))


async def fit_within(image: ResultImage, max_bytes: int) -> ResultImage:
    """Re-encode (then downscale) an image that is over a platform's upload cap, rather than fail."""
    if len(image.data) <= max_bytes:
        return image
    data, mime = await asyncio.to_thread(_reencode_to_fit, image.data, max_bytes)
    with Image.open(io.BytesIO(data)) as reopened:
        width, height = reopened.size
    return ResultImage(data=data, mime=mime, width=width, height=height)
