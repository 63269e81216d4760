"""`@file` and `@mask:file` in a console line: the console's way of attaching images.

Paths with spaces are quoted, `@"my photo.png"` or `@'my photo.png'`, or escaped, `@my\\ photo.png`
(what terminals paste when a file is dropped on them)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

# One word of a line: an attachment (quoted, or bare with `\ ` escapes), or any other word.
_WORD = re.compile(
    r"""(?P<attachment>@(?P<mask>mask:)?(?:"(?P<double>[^"]*)"|'(?P<single>[^']*)'|(?P<bare>(?:\\\s|\S)+)))(?=\s|$)"""
    r"""|(?P<word>\S+)"""
)
_ESCAPED_SPACE = re.compile(r"\\(\s)")
QUOTING = """Put a path with spaces in quotes: @"my photo.png" or @'my photo.png'."""


class AttachmentError(Exception):
    """The line's attachments cannot be read as written; the message says how to write them."""


@dataclass
class Attachments:
    images: list[Path] = field(default_factory=list)
    mask: Path | None = None

    @property
    def paths(self) -> list[Path]:
        return [*self.images, *([self.mask] if self.mask else [])]

    def missing(self) -> list[Path]:
        return [path for path in self.paths if not path.is_file()]

    async def read(self) -> tuple[list[bytes], bytes | None]:
        images = [await asyncio.to_thread(path.read_bytes) for path in self.images]
        mask = await asyncio.to_thread(self.mask.read_bytes) if self.mask else None
        return images, mask


def split_attachments(line: str) -> tuple[str, Attachments]:
    """`/edit @photo.png @mask:"sky mask.png" make the sky pink` -> ("/edit make the sky pink", photo + mask)."""
    words, attached = [], Attachments()
    for match in _WORD.finditer(line):
        if match.group("word") is not None or match.group(0) == "@":
            words.append(match.group(0))
            continue
        path = _path_of(match)
        if match.group("mask"):
            if attached.mask is not None:
                raise AttachmentError("Only one @mask: per edit, please.")
            attached.mask = path
        else:
            attached.images.append(path)
    return " ".join(words), attached


def _path_of(match: re.Match[str]) -> Path:
    written = match.group(0)
    if match.group("double") is not None or match.group("single") is not None:
        text = match.group("double") if match.group("double") is not None else match.group("single")
    else:
        text = _ESCAPED_SPACE.sub(r"\1", match.group("bare"))
        if text.startswith(("'", '"')):
            raise AttachmentError(f"The quote in {written} is not closed. {QUOTING}")
    if not text.strip() or (text == "mask:" and not match.group("mask")):
        raise AttachmentError(f"{written} names no file: write @photo.png or @mask:mask.png. {QUOTING}")
    return Path(text).expanduser()
