"""Masks and canvases for the masked flows, in pixels alone: Vary (Region) paints inside a part of an image,
Zoom Out and Pan paint a new border around what is kept. A mask is a greyscale PNG the size of its image,
white where the model may paint and black where it must not (what A1111 inpainting and GPT Image edit take).

Every canvas keeps its image's size, so it fits the fixed sizes some models take: Zoom Out shrinks the image
into the centre and Pan shifts it by a third, and `restore` puts the kept pixels back, exactly, into what
the model returned."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageStat

Box = tuple[int, int, int, int]  # left, top, right, bottom, in pixels

# How much of the picture a pan brings in (and lets go of on the other side).
PAN_SHARE = 1 / 3


def region_box(size: tuple[int, int], region: str) -> Box:
    """The part of an image a region names: a half, or the centre (the middle half of each side)."""
    width, height = size
    boxes = {
        "left": (0, 0, width // 2, height),
        "right": (width // 2, 0, width, height),
        "top": (0, 0, width, height // 2),
        "bottom": (0, height // 2, width, height),
        "centre": (width // 4, height // 4, width - width // 4, height - height // 4),
    }
    if region not in boxes:
        raise ValueError(f"unknown region {region!r}; known: {', '.join(boxes)}")
    return boxes[region]


def region_phrase(region: str) -> str:
    """How a caption or a prompt names a region: "the centre", "the left half"."""
    return "the centre" if region == "centre" else f"the {region} half"


def region_mask(image: bytes, region: str) -> bytes:
    """A mask for `image`, white exactly inside the region."""
    size = _size_of(image)
    mask = Image.new("L", size, 0)
    mask.paste(255, region_box(size, region))
    return _png(mask)


@dataclass(frozen=True)
class Outpaint:
    """What a Zoom Out or a Pan sends: the canvas (the kept pixels on a neutral fill), its mask (white on
    the new border) and where the kept pixels are, to restore them into the result."""

    canvas: bytes
    mask: bytes
    keep: Box


def zoom_out(image: bytes, factor: float) -> Outpaint:
    """The image shrunk by `factor` into the centre of a canvas of its own size."""
    if factor <= 1:
        raise ValueError("a zoom out factor is greater than 1")
    with Image.open(io.BytesIO(image)) as opened:
        original = opened.convert("RGB")
    width, height = original.size
    inner = (max(1, round(width / factor)), max(1, round(height / factor)))
    left, top = (width - inner[0]) // 2, (height - inner[1]) // 2
    keep = (left, top, left + inner[0], top + inner[1])
    return _outpaint(original, original.resize(inner, Image.Resampling.LANCZOS), keep)


def pan(image: bytes, direction: str) -> Outpaint:
    """The view moved a third of the way `direction`: that much is new on that side, as much let go of
    on the other, and the rest kept pixel for pixel."""
    with Image.open(io.BytesIO(image)) as opened:
        original = opened.convert("RGB")
    width, height = original.size
    dx, dy = round(width * PAN_SHARE), round(height * PAN_SHARE)
    crops: dict[str, tuple[Box, tuple[int, int]]] = {
        "right": ((dx, 0, width, height), (0, 0)),
        "left": ((0, 0, width - dx, height), (dx, 0)),
        "down": ((0, dy, width, height), (0, 0)),
        "up": ((0, 0, width, height - dy), (0, dy)),
    }
    if direction not in crops:
        raise ValueError(f"unknown direction {direction!r}; known: {', '.join(crops)}")
    crop, (left, top) = crops[direction]
    kept = original.crop(crop)
    return _outpaint(original, kept, (left, top, left + kept.width, top + kept.height))


def restore(result: bytes, canvas: bytes, keep: Box) -> tuple[bytes, int, int]:
    """The model's result (fitted to the canvas's size if it came back in another) with the kept pixels
    of the canvas put back exactly: PNG data, width, height."""
    with Image.open(io.BytesIO(canvas)) as opened:
        source = opened.convert("RGB")
    with Image.open(io.BytesIO(result)) as opened:
        made = opened.convert("RGB")
    if made.size != source.size:
        made = made.resize(source.size, Image.Resampling.LANCZOS)
    made.paste(source.crop(keep), keep[:2])
    return _png(made), made.width, made.height


def _outpaint(original: Image.Image, kept: Image.Image, keep: Box) -> Outpaint:
    # The new border starts as the image's mean colour: inpainting from a neutral fill of the right tone
    # blends better than from black.
    fill = tuple(round(channel) for channel in ImageStat.Stat(original).mean)
    canvas = Image.new("RGB", original.size, fill)  # type: ignore[arg-type]
    canvas.paste(kept, keep[:2])
    mask = Image.new("L", original.size, 255)
    mask.paste(0, keep)
    return Outpaint(_png(canvas), _png(mask), keep)


def _size_of(image: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(image)) as opened:
        return opened.size


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)  # sent once and kept: speed over a few per cent of size
    return out.getvalue()
