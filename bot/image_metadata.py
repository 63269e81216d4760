"""Metadata out of JPEG and PNG files without touching their pixels: EXIF (GPS included), XMP, IPTC,
comments and text chunks are cut out segment by segment, so a clean file costs one scan of its headers
and a file with metadata one copy, never a re-encode. The EXIF block is handed back for its orientation."""

from __future__ import annotations

import struct
from typing import NamedTuple

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary PNG chunks that describe rather than draw: text (which holds anything: ComfyUI workflows,
# A1111 parameters), EXIF and the last-modified time. Colour chunks (iCCP, sRGB, gAMA, cHRM) stay.
_PNG_METADATA = frozenset({b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"})
# JPEG segments kept: APP0 (JFIF), APP2 holding an ICC profile, APP14 (Adobe colour transform); every
# other APPn (APP1 EXIF/XMP, APP2 MPF, APP13 IPTC, ...) and COM comments go.
_JPEG_KEPT_APP = frozenset({0xE0, 0xE2, 0xEE})
_JPEG_SOS = 0xDA
_EXIF_HEADER = b"Exif\x00\x00"


class Stripped(NamedTuple):
    data: bytes  # the same object when there was nothing to strip
    exif: bytes | None  # the EXIF block that was cut out (TIFF data, `Exif\0\0` header removed)


def strip_metadata(data: bytes) -> Stripped:
    """`data` without its metadata, for JPEG and PNG; anything else (or a file whose structure does not
    parse: Pillow will say what is wrong with it) comes back unchanged."""
    try:
        if data.startswith(_PNG_SIGNATURE):
            return _strip_png(data)
        if data.startswith(b"\xff\xd8"):
            return _strip_jpeg(data)
    except (struct.error, IndexError, ValueError):
        pass
    return Stripped(data, None)


def _strip_png(data: bytes) -> Stripped:
    kept: list[bytes | memoryview] = []
    view = memoryview(data)
    exif: bytes | None = None
    position = start = len(_PNG_SIGNATURE)
    dropped = False
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if end > len(data):
            raise ValueError("truncated chunk")
        if kind in _PNG_METADATA:
            kept.append(view[start:position])
            start = end
            dropped = True
            if kind == b"eXIf":
                exif = data[position + 8 : position + 8 + length]
        position = end
        if kind == b"IEND":
            break
    if not dropped:
        return Stripped(data, None)
    kept.append(view[start:position])
    return Stripped(_PNG_SIGNATURE + b"".join(kept), exif)


def _strip_jpeg(data: bytes) -> Stripped:
    view = memoryview(data)
    kept: list[bytes | memoryview] = []
    exif: bytes | None = None
    position = start = 2
    stop = len(data)
    dropped = False
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise ValueError("not a marker")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == _JPEG_SOS or 0xD0 <= marker <= 0xD9 or marker == 0x01:
            # Image data (or a marker with no length): kept as it is, up to the end of this image.
            # Whatever follows (a phone's second picture, MPO-style, with its own EXIF) goes.
            finish = data.find(b"\xff\xd9", position)
            if 0 <= finish < len(data) - 2:
                stop, dropped = finish + 2, True
            break
        (length,) = struct.unpack_from(">H", data, position + 2)
        end = position + 2 + length
        if end > len(data):
            raise ValueError("truncated segment")
        is_app = 0xE0 <= marker <= 0xEF
        kept_app = marker in _JPEG_KEPT_APP and (marker != 0xE2 or data.startswith(b"ICC_PROFILE", position + 4))
        if (is_app and not kept_app) or marker == 0xFE:
            kept.append(view[start:position])
            start = end
            dropped = True
            payload = data[position + 4 : end]
            if marker == 0xE1 and payload.startswith(_EXIF_HEADER) and exif is None:
                exif = payload[len(_EXIF_HEADER) :]
        position = end
    if not dropped:
        return Stripped(data, None)
    kept.append(view[start:stop])
    return Stripped(b"\xff\xd8" + b"".join(kept), exif)
