"""Text formatting like Telegram: UTF-16 lengths, auto-detected entities, and the ``parse_mode`` parsers
(HTML, MarkdownV2, legacy Markdown) with Telegram's "can't parse entities" errors."""

from __future__ import annotations

import re
from collections.abc import Callable

from .models import ApiError, JSONDict, bad_request


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w@/])")
_MENTION_RE = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{5,32}(?!\w)")
_URL_RE = re.compile(r"(?<!\S)https?://[^\s<>\"]+")
_HASHTAG_RE = re.compile(r"(?<![\w#])#[^\W\d]\w*")


def auto_entities(text: str) -> list[JSONDict]:
    """Entities Telegram detects by itself: bot_command, mention, url, hashtag (UTF-16 offsets)."""
    found: list[tuple[int, int, str]] = []
    taken: list[range] = []
    for kind, regex in (
        ("bot_command", _COMMAND_RE),
        ("url", _URL_RE),
        ("mention", _MENTION_RE),
        ("hashtag", _HASHTAG_RE),
    ):
        for m in regex.finditer(text):
            if any(m.start() in r for r in taken):
                continue
            taken.append(range(m.start(), m.end()))
            found.append((m.start(), m.end(), kind))
    found.sort()
    return [{"offset": utf16_len(text[:s]), "length": utf16_len(text[s:e]), "type": kind} for s, e, kind in found]


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ESCAPES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _entity_error(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


def parse_html(source: str) -> tuple[str, list[JSONDict]]:
    """Telegram's HTML subset -> (plain text, entities); raises ApiError like the real server."""
    out: list[str] = []
    entities: list[JSONDict] = []
    stack: list[tuple[str, int, JSONDict]] = []  # (tag, utf16 start, entity template)
    pos = 0
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "&":
            m = re.match(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);", source[i:])
            if m and (m.group(1) in _HTML_ESCAPES or m.group(1).startswith("#")):
                ref = m.group(1)
                ch = _HTML_ESCAPES.get(ref) or chr(int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:]))
                i += len(m.group(0))
            else:
                i += 1
            out.append(ch)
            pos += utf16_len(ch)
            continue
        if ch != "<":
            out.append(ch)
            pos += utf16_len(ch)
            i += 1
            continue
        end = source.find(">", i)
        if source.startswith("</", i):
            name = source[i + 2 : end if end >= 0 else len(source)].strip().lower()
            if end < 0 or not stack or (name and stack[-1][0] != name):
                raise _entity_error(f"Unexpected end tag at byte offset {_byte_offset(source, i)}")
            _, start, template = stack.pop()
            if template and pos > start:
                entities.append({"offset": start, "length": pos - start, **template})
            i = end + 1
            continue
        tag = re.match(r"[^\s>/]*", source[i + 1 :])
        assert tag is not None  # the pattern matches the empty string too
        name = tag.group(0).lower()
        if name not in _HTML_TAGS or end < 0:
            raise _entity_error(f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, i)}')
        attrs = dict(
            (k.lower(), v1 or v2 or v3)
            for k, v1, v2, v3 in re.findall(
                r"([\w-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", source[i + 1 + len(name) : end]
            )
        )
        stack.append((name, pos, _html_entity(name, attrs, stack)))
        i = end + 1
    if stack:
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_entity(tag: str, attrs: dict[str, str], stack: list[tuple[str, int, JSONDict]]) -> JSONDict:
    kind = _HTML_TAGS[tag]
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise _entity_error('Unsupported start tag "span"')
    if kind == "text_link":
        return {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else {}
    if kind == "code" and stack and stack[-1][0] == "pre":
        lang = attrs.get("class", "").removeprefix("language-")
        if lang:
            stack[-1][2]["language"] = lang
        return {}
    if kind == "blockquote" and "expandable" in attrs:
        return {"type": "expandable_blockquote"}
    if kind == "custom_emoji":
        return {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
    return {"type": kind}


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def parse_markdown_v2(source: str) -> tuple[str, list[JSONDict]]:
    """MarkdownV2 -> (plain text, entities); reserved characters must be escaped, like Telegram."""
    out: list[str] = []
    entities: list[JSONDict] = []
    open_: list[tuple[str, int, int]] = []  # (type, utf16 start, byte offset of marker)
    pos = 0
    i = 0
    markers = (("||", "spoiler"), ("__", "underline"), ("*", "bold"), ("_", "italic"), ("~", "strikethrough"))

    def emit(text: str) -> None:
        nonlocal pos
        out.append(text)
        pos += utf16_len(text)

    while i < len(source):
        ch = source[i]
        if ch == "\\" and i + 1 < len(source) and 0 < ord(source[i + 1]) < 127:
            emit(source[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = "```" if source.startswith("```", i) else "`"
            close = _find_unescaped(source, fence, i + len(fence))
            if close < 0:
                name = "Pre" if fence == "```" else "Code"
                raise _entity_error(f"Can't find end of {name} entity at byte offset {_byte_offset(source, i)}")
            body = re.sub(r"\\([`\\])", r"\1", source[i + len(fence) : close])
            entity: JSONDict = {"type": "pre" if fence == "```" else "code"}
            if fence == "```" and "\n" in body:
                lang, _, rest = body.partition("\n")
                if lang.strip():
                    entity["language"] = lang.strip()
                    body = rest
            start = pos
            emit(body)
            entities.append({"offset": start, "length": pos - start, **entity})
            i = close + len(fence)
            continue
        for marker, kind in markers:
            if source.startswith(marker, i):
                if open_ and open_[-1][0] == kind:
                    _, start, _ = open_.pop()
                    if pos > start:
                        entities.append({"offset": start, "length": pos - start, "type": kind})
                else:
                    open_.append((kind, pos, _byte_offset(source, i)))
                i += len(marker)
                break
        else:
            if ch == "[":
                open_.append(("text_link", pos, _byte_offset(source, i)))
                i += 1
            elif ch == "]" and open_ and open_[-1][0] == "text_link" and source.startswith("(", i + 1):
                target = re.match(r"\((?:[^)\\]|\\.)*\)", source[i + 1 :])
                if not target:
                    raise _entity_error(f"Can't find end of a URL at byte offset {_byte_offset(source, i + 1)}")
                url = re.sub(r"\\(.)", r"\1", target.group(0)[1:-1])
                _, start, _ = open_.pop()
                entities.append({"offset": start, "length": pos - start, "type": "text_link", "url": url})
                i += 1 + len(target.group(0))
            elif ch == ">" and (i == 0 or source[i - 1] == "\n"):
                line_end = source.find("\n", i)
                open_.append(("blockquote", pos, _byte_offset(source, i)))
                i += 1
                inner_text, inner = parse_markdown_v2(source[i : line_end if line_end >= 0 else len(source)])
                base = pos
                emit(inner_text)
                entities.extend({**e, "offset": e["offset"] + base} for e in inner)
                open_.pop()
                entities.append({"offset": base, "length": pos - base, "type": "blockquote"})
                i = line_end if line_end >= 0 else len(source)
            elif ch in _MDV2_RESERVED:
                raise _entity_error(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
            else:
                emit(ch)
                i += 1
    if open_:
        kind, _, offset = open_[-1]
        raise _entity_error(f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {offset}")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _find_unescaped(source: str, needle: str, start: int) -> int:
    i = start
    while i < len(source):
        if source[i] == "\\":
            i += 2
        elif source.startswith(needle, i):
            return i
        else:
            i += 1
    return -1


def parse_markdown(source: str) -> tuple[str, list[JSONDict]]:
    """Legacy Markdown: *bold* _italic_ `code` ```pre``` [text](url)."""
    out: list[str] = []
    entities: list[JSONDict] = []
    pos = 0
    i = 0
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    while i < len(source):
        ch = source[i]
        if ch == "\\" and i + 1 < len(source) and source[i + 1] in "*_`[":
            out.append(source[i + 1])
            pos += 1
            i += 2
            continue
        marker = "```" if source.startswith("```", i) else ch
        if marker in ("```", *kinds) or ch == "[":
            closing = "]" if ch == "[" else marker
            close = source.find(closing, i + len(marker))
            if close < 0:
                raise _entity_error(f"Can't find end of the entity starting at byte offset {_byte_offset(source, i)}")
            body = source[i + len(marker) : close]
            entity: JSONDict = {"type": "pre" if marker == "```" else kinds.get(marker, "text_link")}
            i = close + len(closing)
            if ch == "[":
                url = re.match(r"\(([^)]*)\)", source[i:])
                if url:
                    entity["url"] = url.group(1)
                    i += len(url.group(0))
                else:
                    entity = {}
            if entity and body:
                entities.append({"offset": pos, "length": utf16_len(body), **entity})
            out.append(body)
            pos += utf16_len(body)
            continue
        out.append(ch)
        pos += utf16_len(ch)
        i += 1
    return "".join(out), entities


PARSERS: dict[str, Callable[[str], tuple[str, list[JSONDict]]]] = {
    "html": parse_html,
    "markdownv2": parse_markdown_v2,
    "markdown": parse_markdown,
}
