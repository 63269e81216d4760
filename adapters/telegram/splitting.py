"""Long text into Telegram messages of at most 4,096 characters (UTF-16 code units), cut at a line
break or a space where one is near the end."""

from __future__ import annotations

from adapters.telegram.media import fit_utf16, utf16_len

MAX_TEXT = 4096


def cut_point(text: str, start: int = 0, limit: int = MAX_TEXT) -> int:
    """Where the message beginning at `start` should end, when text[start:] is too long for one."""
    window = fit_utf16(text[start:], limit)
    for separator in ("\n", " "):
        index = window.rfind(separator)
        if index > len(window) // 2:
            return start + index + 1
    return start + len(window)


def needs_cut(text: str, start: int = 0, limit: int = MAX_TEXT) -> bool:
    return utf16_len(text[start:]) > limit


def skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    pieces, start = [], 0
    while needs_cut(text, start, limit):
        end = cut_point(text, start, limit)
        pieces.append(text[start:end].rstrip())
        start = skip_space(text, end)
    pieces.append(text[start:])
    return [piece for piece in pieces if piece.strip()]
