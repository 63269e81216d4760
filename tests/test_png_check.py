"""The PNG chunk walk that checks results: it must refuse every damaged file Pillow's own verify refuses,
accept what Pillow accepts, and tell the user plainly when a provider's image is broken."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from PIL import Image

from bot.images import ImageLimits, ImageRejected, check_result_image
from bot.png_check import DamagedPng, png_size
from tests.fakes.images import noisy_png


def _pillow_accepts(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        return True
    except Exception:
        return False


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def test_sound_png_gives_its_size() -> None:
    image = Image.new("RGB", (640, 360), "teal")
    out = io.BytesIO()
    image.save(out, "PNG")
    assert png_size(out.getvalue()) == (640, 360)
    assert png_size(noisy_png(200_000))[0] > 100


def test_every_flipped_byte_and_every_cut_is_refused_as_pillow_refuses_it() -> None:
    sound = noisy_png(20_000)
    rng = random.Random(7)
    damaged = [sound[:cut] for cut in rng.sample(range(8, len(sound)), 40)]
    for offset in rng.sample(range(8, len(sound)), 200):
        flipped = bytearray(sound)
        flipped[offset] ^= 0x5A
        damaged.append(bytes(flipped))
    for data in damaged:
        with pytest.raises(DamagedPng):
            png_size(data)
        assert not _pillow_accepts(data)


def test_structure_errors_are_refused() -> None:
    sound = noisy_png(5_000)
    ihdr_end = 8 + 25
    iend = _chunk(b"IEND", b"")
    no_data = sound[:ihdr_end] + iend
    bad_depth = sound[:8] + _chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 10, 3, 2, 0, 0, 0)) + sound[ihdr_end:]
    zero_width = sound[:8] + _chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)) + sound[ihdr_end:]
    text_first = sound[:8] + _chunk(b"tEXt", b"k\x00v") + sound[8:]
    for data in (no_data, bad_depth, zero_width, text_first, b"\x89PNG\r\n\x1a\n", b"not a png"):
        with pytest.raises(DamagedPng):
            png_size(data)


def test_megabytes_of_text_chunks_pass_and_trailing_bytes_are_ignored() -> None:
    sound = noisy_png(5_000)
    workflow = _chunk(b"tEXt", b"workflow\x00" + b"{" + b"x" * 3_000_000 + b"}")
    with_text = sound[:33] + workflow + sound[33:]
    assert png_size(with_text) == png_size(sound)
    assert png_size(sound + b"trailing junk") == png_size(sound)


async def test_a_broken_result_is_refused_in_plain_words() -> None:
    sound = noisy_png(50_000)
    flipped = bytearray(sound)
    flipped[len(sound) // 2] ^= 1
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        await check_result_image(bytes(flipped), ImageLimits())
    result = await check_result_image(sound, ImageLimits())
    assert (result.mime, result.width) == ("image/png", png_size(sound)[0])


async def test_a_result_past_the_pixel_limit_is_refused() -> None:
    huge = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 20_000, 20_000, 8, 2, 0, 0, 0))
    huge += _chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + _chunk(b"IEND", b"")
    with pytest.raises(ImageRejected, match="400 megapixels"):
        await check_result_image(huge, ImageLimits(max_megapixels=40))
