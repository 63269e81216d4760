"""Base64 and data URIs for image bytes."""

from __future__ import annotations

import base64
import binascii

import pybase64

from bot.providers.base import BadResult


def decode_base64(text: str | bytes | memoryview) -> bytes:
    # pybase64 (SIMD) decodes a 1 MB image ~4x faster than the standard library, on the event loop.
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass  # strict decoding refuses answers wrapped in newlines: decode leniently
    try:
        return pybase64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise BadResult(f"invalid base64 image: {exc}") from None


def decode_data_uri(uri: str) -> bytes:
    header, _, payload = uri.partition(",")
    if not header.startswith("data:") or ";base64" not in header:
        raise BadResult("unsupported data URI")
    return decode_base64(payload)


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
