"""Image sizes: parsing `WxH`, mapping an aspect ratio to the nearest allowed size, and the size an edit
asks for when none is given (the input's own shape)."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable

from PIL import Image, UnidentifiedImageError

_SIZE = re.compile(r"^\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*$")
_RATIO = re.compile(r"^\s*(\d{1,3})\s*:\s*(\d{1,3})\s*$")


def parse_size(text: str) -> tuple[int, int]:
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a size like 1024x768")
    width, height = int(match.group(1)), int(match.group(2))
    if not (64 <= width <= 8192 and 64 <= height <= 8192):
        raise ValueError(f"'{text}' is out of range (64..8192 per side)")
    return width, height


def parse_ratio(text: str) -> float:
    match = _RATIO.match(text)
    if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise ValueError(f"'{text}' is not an aspect ratio like 16:9")
    return int(match.group(1)) / int(match.group(2))


def format_size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def nearest_size(ratio: float, allowed: list[tuple[int, int]], prefer_pixels: int = 1024 * 1024) -> tuple[int, int]:
    """The allowed size whose shape is closest to `ratio`, ties going to the one nearest 1 MP."""

    def distance(size: tuple[int, int]) -> tuple[float, float]:
        shape = abs(math.log(size[0] / size[1]) - math.log(ratio))
        return round(shape, 3), abs(size[0] * size[1] - prefer_pixels)

    return min(allowed, key=distance)


def nearest_ratio(size: tuple[int, int], ratios: list[str]) -> str:
    """The listed `W:H` ratio closest in shape to `size` (for providers that take ratios, not sizes)."""
    target = math.log(size[0] / size[1])
    return min(ratios, key=lambda r: abs(math.log(parse_ratio(r)) - target))


def input_shape(data: bytes) -> tuple[int, int] | None:
    """An image's shape from its header alone (no pixels decoded). Given checked input bytes, which
    `check_input_image` has already turned upright. None when the bytes are not an image we can read."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def size_for_input(
    shape: tuple[int, int],
    allowed: list[tuple[int, int]],
    model_sizes: Iterable[str] | None,
    prefer: tuple[int, int],
) -> tuple[int, int] | None:
    """The size an edit asks for when none was given: of the allowed sizes (that the model offers, when it
    lists them), the one closest to the input's shape, ties going to the one nearest `prefer`'s area (the
    default size). None when nothing allowed is offered."""
    offered = set(model_sizes or ())
    candidates = [size for size in allowed if not offered or format_size(size) in offered]
    if not candidates:
        return None
    return nearest_size(shape[0] / shape[1], candidates, prefer_pixels=prefer[0] * prefer[1])
