"""A protocol-faithful fake of the Telegram Bot API for end-to-end tests with real python-telegram-bot.

Runs an aiohttp server on 127.0.0.1 (random port) speaking the Bot API wire protocol: ``/bot<token>/<method>``
with JSON, form-urlencoded or multipart bodies, Telegram-shaped ``{"ok": ..., "result"|"error_code"...}``
answers, real long polling for ``getUpdates`` and a ``/file/bot<token>/<file_path>`` download route.

Usage::

    fake = FakeTelegram(token="123456:TEST-fake-token", bot_username="AtelierBot")
    await fake.start()
    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).base_file_url(fake.base_file_url)...
    fake.push_message(1001, "/start")
    call = await fake.wait_for("sendMessage")
    await fake.stop()

Deliberate strictness (like real Telegram): sending to a chat the fake has never seen answers
``400 chat not found`` (use ``add_chat`` or ``push_message`` first); ``sendPhoto`` needs real image bytes
(``IMAGE_PROCESS_FAILED`` otherwise); ``parse_mode`` HTML/MarkdownV2/Markdown is parsed and bad markup
answers ``can't parse entities``. The largest PhotoSize of a sent photo serves the exact uploaded bytes
(real Telegram re-encodes to JPEG); smaller sizes are real Pillow thumbnails.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import mimetypes
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import aiohttp
from aiohttp import web
from PIL import Image, UnidentifiedImageError

JSONDict = dict[str, Any]
CallPredicate = Callable[["Call"], bool]

DEFAULT_USER_ID = 1001
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_DOWNLOAD = 20 * 1024 * 1024
DEFAULT_ALLOWED = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)  # Telegram's default excludes chat_member, message_reaction and message_reaction_count
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Form/multipart values arrive as strings; these stay strings, all others are JSON-decoded when possible.
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "url",
        "action",
        "data",
        "inline_message_id",
        "language_code",
        "secret_token",
        "ip_address",
        "photo",
        "document",
        "business_connection_id",
        "message_effect_id",
        "description",
        "title",
        "name",
        "short_description",
    }
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


@dataclass
class Call:
    """One Bot API method call as the fake received and answered it."""

    seq: int
    method: str
    params: JSONDict
    files: dict[str, tuple[str, bytes]]
    ts: float  # time.monotonic() when the request arrived
    chat_id: int | str | None
    status: int = 200
    result: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class RecordedRequest:
    """Raw HTTP request as received (for leak checks: token in headers, query strings or bodies)."""

    http_method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    ts: float

    def contains(self, text: str, *, in_path: bool = False) -> bool:
        """Search raw and percent-decoded forms (form bodies encode ':' in a token as %3A)."""
        body = self.body.decode("utf-8", "replace")
        haystacks = [self.query_string, body, *(f"{k}: {v}" for k, v in self.headers)]
        if in_path:
            haystacks.append(self.path)
        return any(text in h or text in unquote_plus(h) for h in haystacks)


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    kind: str  # "photo" | "document"
    file_name: str | None = None
    mime_type: str | None = None
    photo_sizes: list[JSONDict] | None = None  # shared by every size of one photo


@dataclass
class StoredMessage:
    data: JSONDict  # current Telegram Message object
    from_bot: bool
    deleted: bool = False
    history: list[JSONDict] = field(default_factory=list)


@dataclass
class _Failure:
    code: int
    description: str
    parameters: JSONDict | None


# --------------------------------------------------------------------------------------------- helpers


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


def _image_info(data: bytes) -> tuple[int, int, str] | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.width, img.height, (img.format or "jpeg").lower()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        return None


def _thumbnail(data: bytes, limit: int) -> tuple[bytes, int, int]:
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        img.thumbnail((limit, limit))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=80)
        return out.getvalue(), img.width, img.height


def _parse_disposition(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, quoted, bare in re.findall(r';\s*([\w*]+)=(?:"((?:[^"\\]|\\.)*)"|([^;]*))', value):
        raw = quoted if quoted or not bare else bare.strip()
        # httpx (HTML5 form encoding) escapes '"' and control characters as %XX and '\' as '\\'
        raw = re.sub(r"%(22|[01][0-9A-F])", lambda m: chr(int(m.group(1), 16)), raw).replace("\\\\", "\\")
        params[key.lower()] = raw
    return params


def parse_multipart(body: bytes, boundary: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Split a multipart/form-data body into text fields and files {field: (filename, bytes)}."""
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disp = _parse_disposition(headers.get("content-disposition", ""))
        if "name" not in disp:
            continue
        if "filename" in disp:
            files[disp["name"]] = (disp["filename"], content)
        else:
            fields[disp["name"]] = content.decode("utf-8", "replace")
    return fields, files


def coerce_param(name: str, value: Any) -> Any:
    """Telegram-style typing of string parameters (numbers, booleans, JSON objects)."""
    if not isinstance(value, str) or name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


# ----------------------------------------------------------------------------------- parse_mode parsers

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
        name = re.match(r"[^\s>/]*", source[i + 1 :]).group(0).lower()
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
                close = re.match(r"\((?:[^)\\]|\\.)*\)", source[i + 1 :])
                if not close:
                    raise _entity_error(f"Can't find end of a URL at byte offset {_byte_offset(source, i + 1)}")
                url = re.sub(r"\\(.)", r"\1", close.group(0)[1:-1])
                _, start, _ = open_.pop()
                entities.append({"offset": start, "length": pos - start, "type": "text_link", "url": url})
                i += 1 + len(close.group(0))
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


# ----------------------------------------------------------------------------------------- the fake


class FakeTelegram:
    """In-process fake Telegram Bot API server for the real python-telegram-bot client."""

    def __init__(
        self,
        token: str = "123456:TEST-fake-token",
        bot_username: str = "AtelierBot",
        *,
        bot_first_name: str = "Atelier",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user: JSONDict = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        # recording
        self._calls: list[Call] = []
        self._requests: list[RecordedRequest] = []
        self._calls_cond = asyncio.Condition()
        self._failures: dict[str, list[_Failure]] = {}
        # world state
        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._members: dict[tuple[int, int], JSONDict] = {}
        self._messages: dict[tuple[int, int], StoredMessage] = {}
        self._next_message_id: dict[int, int] = {}
        self._files: dict[str, StoredFile] = {}
        self._file_counter = 0
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._commands: dict[str, list[JSONDict]] = {}
        self._webhook: JSONDict = {"url": ""}
        # updates / long polling
        self._updates: list[JSONDict] = []
        self._next_update_id = 500_000_001
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED
        self._updates_event = asyncio.Event()
        self._poll_generation = 0
        self._parked_polls = 0  # getUpdates requests currently blocked in a long poll
        self._poll_cond = asyncio.Condition()
        self._closing = False
        self._handlers: dict[str, Callable[[Call], Any]] = {
            "getMe": self._get_me,
            "logOut": lambda _c: True,
            "close": lambda _c: True,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendMediaGroup": self._send_media_group,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "getFile": self._get_file,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChatMember": self._get_chat_member,
            "getChat": self._get_chat,
        }
        self._method_names = {name.lower(): name for name in self._handlers}  # Telegram ignores case

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{file_path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._closing = False

    async def stop(self) -> None:
        self._closing = True
        self._wake_pollers()
        if self._http:
            await self._http.close()
            self._http = None
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """What ``ApplicationBuilder().base_url()`` / ``Bot(base_url=)`` take; PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    # ------------------------------------------------------------------------------ world set-up

    def add_user(
        self, user_id: int, *, username: str | None = None, first_name: str | None = None, language_code: str = "en"
    ) -> JSONDict:
        user = self._users.get(user_id) or {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"User{user_id}",
        }
        if first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        user["language_code"] = language_code
        self._users[user_id] = user
        return user

    def add_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        is_forum: bool = False,
    ) -> JSONDict:
        """Register a chat (type inferred from the id like Telegram: >0 private, -100... supergroup)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            chat_type = chat_type or (
                "private" if chat_id > 0 else "supergroup" if chat_id <= -1_000_000_000_000 else "group"
            )
            chat = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                user = self._users.get(chat_id) or self.add_user(chat_id, username=username, first_name=first_name)
                chat["first_name"] = user["first_name"]
                if "username" in user:
                    chat["username"] = user["username"]
            else:
                chat["title"] = title or f"Chat {chat_id}"
            self._chats[chat_id] = chat
        elif chat_type and chat["type"] != chat_type:
            raise ValueError(f"chat {chat_id} already registered as {chat['type']}")
        if title and chat["type"] != "private":
            chat["title"] = title
        if username and chat["type"] != "private":
            chat["username"] = username
        if is_forum and chat["type"] == "supergroup":
            chat["is_forum"] = True
        return chat

    def set_chat_member(self, chat_id: int, user_id: int, status: str, **extra: Any) -> None:
        """Configure getChatMember: creator | administrator | member | restricted | left | kicked."""
        self._members[(chat_id, user_id)] = {"status": status, **extra}

    def add_file(
        self, data: bytes, *, kind: str = "photo", file_name: str | None = None, mime_type: str | None = None
    ) -> str:
        """Store bytes as if a user uploaded them; returns the file_id (largest size for photos)."""
        if kind == "photo":
            return self._store_photo(data, strict=False)[-1]["file_id"]
        return self._store_document(data, file_name or "file.bin", mime_type)["file_id"]

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id].data

    # --------------------------------------------------------------------------------- updates

    def push_message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        chat_type: str | None = None,
        user_id: int | None = None,
        username: str | None = None,
        first_name: str | None = None,
        chat_title: str | None = None,
        caption: str | None = None,
        photo_file_id: str | None = None,
        document_file_id: str | None = None,
        reply_to: JSONDict | int | None = None,
        message_thread_id: int | None = None,
        entities: list[JSONDict] | None = None,
        media_group_id: str | None = None,
    ) -> JSONDict:
        """Queue an incoming ``message`` update from a user; returns the update dict."""
        if text is None and photo_file_id is None and document_file_id is None:
            raise ValueError("push_message needs text, photo_file_id or document_file_id")
        if text is not None and (photo_file_id or document_file_id or caption):
            raise ValueError("a Telegram message has either text or media (+caption), not both")
        chat = self.add_chat(chat_id, chat_type, title=chat_title, is_forum=message_thread_id is not None)
        if chat["type"] == "private":
            if user_id not in (None, chat_id):
                raise ValueError("in a private chat the sender's user_id equals chat_id")
            user_id = chat_id
        user = self.add_user(user_id or DEFAULT_USER_ID, username=username, first_name=first_name)
        msg = self._new_message(chat, user, message_thread_id)
        if reply_to is not None:
            msg["reply_to_message"] = self._reply_target(chat_id, reply_to)
        if text is not None:
            msg["text"] = text
            ents = auto_entities(text) if entities is None else entities
            if ents:
                msg["entities"] = ents
        if photo_file_id is not None:
            msg["photo"] = self._file(photo_file_id, "photo").photo_sizes
        if document_file_id is not None:
            msg["document"] = self._document_dict(self._file(document_file_id, "document"))
        if media_group_id is not None:
            msg["media_group_id"] = media_group_id
        if caption is not None:
            msg["caption"] = caption
            if ents := (auto_entities(caption) if entities is None else entities):
                msg["caption_entities"] = ents
        self._store_message(msg, from_bot=False)
        return self._enqueue("message", msg)

    def push_callback_query(
        self,
        message: JSONDict | Any,
        data: str,
        *,
        user_id: int | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> JSONDict:
        """Queue a ``callback_query`` update as if a user pressed a button on a bot message."""
        chat_id, message_id = self._message_key(message)
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        chat = self._chats[chat_id]
        user_id = user_id or (chat_id if chat["type"] == "private" else DEFAULT_USER_ID)
        user = self.add_user(user_id, username=username, first_name=first_name)
        # a deleted message is delivered as InaccessibleMessage (date == 0)
        shown = {"chat": chat, "message_id": message_id, "date": 0} if stored.deleted else stored.data
        query_id = str(secrets.randbits(62))
        self._callback_queries[query_id] = False
        query = {
            "id": query_id,
            "from": user,
            "message": copy.deepcopy(shown),
            "chat_instance": str((chat_id * 7919 + self.bot_id) % 10**18),
            "data": data,
        }
        return self._enqueue("callback_query", query)

    def push_update(self, update_type: str, payload: JSONDict) -> JSONDict:
        """Queue any other raw update (``edited_message``, ``my_chat_member``...)."""
        return self._enqueue(update_type, payload)

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates ``offset``."""
        return list(self._updates)

    # ---------------------------------------------------------------------- failure injection

    def fail_next(
        self,
        method: str,
        *,
        retry_after: int | None = None,
        error_code: int | None = None,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail; default is 429 flood control."""
        if retry_after is None and error_code is None:
            retry_after = 1
        if retry_after is not None:
            failure = _Failure(
                error_code or 429,
                description or f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        else:
            code = error_code or 400
            failure = _Failure(code, description or _default_description(code), None)
        name = self._method_names.get(method.lower(), method)
        self._failures.setdefault(name, []).extend([failure] * times)

    # ------------------------------------------------------------------------ recording access

    def calls(self, method: str | None = None) -> list[Call]:
        """All recorded calls (including failed ones, see ``Call.ok``), optionally of one method."""
        return [c for c in self._calls if method is None or c.method == method]

    def mark(self) -> int:
        """Current call count; pass as ``since=`` to ``wait_for`` to ignore earlier calls."""
        return len(self._calls)

    async def wait_for(
        self,
        match: str | CallPredicate,
        predicate: CallPredicate | None = None,
        *,
        timeout: float = 5.0,
        count: int = 1,
        since: int = 0,
    ) -> Call:
        """Wait until ``count`` calls match (method name and/or predicate); returns the ``count``-th."""
        checks: list[CallPredicate] = [predicate] if predicate else []
        if isinstance(match, str):
            checks.append(lambda c: c.method == match)
        else:
            checks.append(match)

        def hits() -> list[Call]:
            return [c for c in self._calls[since:] if all(check(c) for check in checks)]

        async def wait() -> Call:
            async with self._calls_cond:
                await self._calls_cond.wait_for(lambda: len(hits()) >= count)
                return hits()[count - 1]

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            seen = [f"{c.method}({c.status})" for c in self._calls[since:]]
            raise TimeoutError(f"no matching call after {timeout}s; calls: {seen}") from None

    async def wait_for_long_poll(self, *, timeout: float = 5.0) -> None:
        """Wait until a getUpdates request is parked server-side waiting for updates."""
        async with asyncio.timeout(timeout), self._poll_cond:
            await self._poll_cond.wait_for(lambda: self._parked_polls > 0)

    async def wait_until_confirmed(self, *, timeout: float = 5.0) -> None:
        """Wait until every pushed update was confirmed by a getUpdates ``offset`` (i.e. fetched)."""
        async with asyncio.timeout(timeout), self._poll_cond:
            await self._poll_cond.wait_for(lambda: not self._updates)

    def sent_messages(self, chat_id: int | None = None, *, include_deleted: bool = False) -> list[JSONDict]:
        """Current state of every message the bot sent, in send order."""
        return [
            copy.deepcopy(m.data)
            for (cid, _), m in self._messages.items()
            if m.from_bot and (chat_id is None or cid == chat_id) and (include_deleted or not m.deleted)
        ]

    def message(self, chat_id: int, message_id: int, *, include_deleted: bool = False) -> JSONDict | None:
        """Current (post-edit) Message dict, or None if unknown/deleted."""
        stored = self._messages.get((chat_id, message_id))
        if stored is None or (stored.deleted and not include_deleted):
            return None
        return copy.deepcopy(stored.data)

    def message_history(self, chat_id: int, message_id: int) -> list[JSONDict]:
        """Every version of a message, oldest first."""
        return copy.deepcopy(self._messages[(chat_id, message_id)].history)

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self._requests)

    def requests_containing(self, text: str, *, in_path: bool = False) -> list[RecordedRequest]:
        """Requests whose query string, headers or body (and the URL path if ``in_path``) contain text."""
        return [r for r in self._requests if r.contains(text, in_path=in_path)]

    def commands(self, *, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        return list(self._commands.get(self._commands_key(scope, language_code), []))

    # ----------------------------------------------------------------------------- HTTP layer

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        await self._record_request(request)
        return _json(ApiError(404, "Not Found").payload(), 404)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        await self._record_request(request)
        if request.match_info["token"] != self.token:
            return _json(ApiError(404, "Not Found").payload(), 404)
        path = request.match_info["file_path"]
        for stored in self._files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return _json(ApiError(404, "Not Found").payload(), 404)

    async def _handle_api(self, request: web.Request) -> web.Response:
        body = await self._record_request(request)
        ts = time.monotonic()
        token = request.match_info["token"]
        if token != self.token:
            # Telegram: malformed token -> 404, well-formed but wrong -> 401
            if not re.fullmatch(r"\d+:[\w-]+", token):
                return _json(ApiError(404, "Not Found").payload(), 404)
            return _json(ApiError(401, "Unauthorized").payload(), 401)
        method = self._method_names.get(request.match_info["method"].lower())
        if method is None:
            return _json(ApiError(404, "Not Found").payload(), 404)
        call = Call(seq=len(self._calls), method=method, params={}, files={}, ts=ts, chat_id=None)
        try:
            call.params, call.files = self._parse_params(request, body)
            call.chat_id = call.params.get("chat_id")
            self._raise_injected(method)
            result = self._handlers[method](call)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as err:
            call.status, call.error = err.code, err.description
            await self._record_call(call)
            return _json(err.payload(), err.code)
        call.result = result
        await self._record_call(call)
        return _json({"ok": True, "result": result})

    async def _record_request(self, request: web.Request) -> bytes:
        body = await request.read()
        self._requests.append(
            RecordedRequest(
                request.method,
                request.path,
                request.query_string,
                list(request.headers.items()),
                body,
                time.monotonic(),
            )
        )
        return body

    async def _record_call(self, call: Call) -> None:
        call.seq = len(self._calls)
        async with self._calls_cond:
            self._calls.append(call)
            self._calls_cond.notify_all()

    def _parse_params(self, request: web.Request, body: bytes) -> tuple[JSONDict, dict[str, tuple[str, bytes]]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        ctype = request.content_type
        if ctype == "application/json" and body:
            try:
                decoded = json.loads(body)
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(decoded, dict):
                raise bad_request("can't parse JSON object")
            raw.update(decoded)
        elif ctype == "application/x-www-form-urlencoded":
            raw.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif ctype == "multipart/form-data":
            boundary = re.search(r'boundary="?([^";]+)"?', request.headers.get("Content-Type", ""))
            fields, files = parse_multipart(body, boundary.group(1) if boundary else "")
            raw.update(fields)
        return {k: coerce_param(k, v) for k, v in raw.items()}, files

    def _raise_injected(self, method: str) -> None:
        queue = self._failures.get(method)
        if queue:
            failure = queue.pop(0)
            raise ApiError(failure.code, failure.description, failure.parameters)

    # --------------------------------------------------------------------------- state helpers

    def _enqueue(self, update_type: str, payload: JSONDict) -> JSONDict:
        update = {"update_id": self._next_update_id, update_type: payload}
        self._next_update_id += 1
        self._updates.append(update)
        self._wake_pollers()
        return copy.deepcopy(update)

    def _wake_pollers(self) -> None:
        self._updates_event.set()
        self._updates_event = asyncio.Event()

    def _new_message(self, chat: JSONDict, sender: JSONDict, thread_id: int | None) -> JSONDict:
        message_id = self._next_message_id.get(chat["id"], 1)
        self._next_message_id[chat["id"]] = message_id + 1
        msg: JSONDict = {
            "message_id": message_id,
            "from": copy.deepcopy(sender),
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
        }
        if thread_id is not None and chat["type"] == "supergroup":
            msg["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                msg["is_topic_message"] = True
        return msg

    def _store_message(self, msg: JSONDict, *, from_bot: bool) -> None:
        stored = StoredMessage(data=msg, from_bot=from_bot, history=[copy.deepcopy(msg)])
        self._messages[(msg["chat"]["id"], msg["message_id"])] = stored

    @staticmethod
    def _message_key(message: JSONDict | Any) -> tuple[int, int]:
        if not isinstance(message, dict):
            message = message.to_dict()  # a telegram.Message
        return message["chat"]["id"], message["message_id"]

    def _reply_target(self, chat_id: int, reply_to: JSONDict | int) -> JSONDict:
        message_id = reply_to if isinstance(reply_to, int) else self._message_key(reply_to)[1]
        stored = self._messages.get((chat_id, message_id))
        if stored is None or stored.deleted:
            raise ValueError(f"no message {message_id} in chat {chat_id} to reply to")
        target = copy.deepcopy(stored.data)
        target.pop("reply_to_message", None)  # Telegram does not nest replies further
        return target

    def _chat(self, params: JSONDict) -> JSONDict:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, str):
            chat = next((c for c in self._chats.values() if "@" + c.get("username", "") == chat_id), None)
        else:
            chat = self._chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _stored(self, params: JSONDict, verb: str) -> StoredMessage:
        chat = self._chat(params)
        if "message_id" not in params:
            raise bad_request("message identifier is not specified")
        stored = self._messages.get((chat["id"], params["message_id"]))
        if stored is None or stored.deleted:
            raise bad_request(f"message to {verb} not found")
        return stored

    def _file(self, file_id: str, kind: str) -> StoredFile:
        stored = self._files.get(file_id)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request(f"can't use file of type {stored.kind.title()} as {kind.title()}")
        return stored

    def _new_file_ids(self, kind: str) -> tuple[str, str]:
        self._file_counter += 1
        prefix = "AgACAgIAAxkBAA" if kind == "photo" else "BQACAgIAAxkBAA"
        return (
            f"{prefix}{self._file_counter:06d}{secrets.token_urlsafe(18)}",
            f"AQAD{self._file_counter:04d}{secrets.token_urlsafe(6)}",
        )

    def _store_photo(self, data: bytes, *, strict: bool = True) -> list[JSONDict]:
        if not data:
            raise bad_request("file must be non-empty")
        info = _image_info(data)
        if info is None:
            if strict:
                raise bad_request("IMAGE_PROCESS_FAILED")
            info = (512, 512, "jpeg")
        width, height, fmt = info
        if strict and (width + height > 10_000 or max(width, height) > 20 * min(width, height)):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        variants = [_thumbnail(data, limit) for limit in (90, 320, 800) if max(width, height) > limit]
        variants.append((data, width, height))
        sizes: list[JSONDict] = []
        for blob, w, h in variants:
            file_id, unique_id = self._new_file_ids("photo")
            ext = "jpg" if blob is not data or fmt == "jpeg" else fmt
            self._files[file_id] = StoredFile(
                file_id, unique_id, blob, f"photos/file_{self._file_counter}.{ext}", "photo", photo_sizes=sizes
            )
            sizes.append(
                {"file_id": file_id, "file_unique_id": unique_id, "file_size": len(blob), "width": w, "height": h}
            )
        return sizes

    def _store_document(self, data: bytes, file_name: str, mime_type: str | None) -> JSONDict:
        if not data:
            raise bad_request("file must be non-empty")
        file_id, unique_id = self._new_file_ids("document")
        ext = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        stored = StoredFile(
            file_id,
            unique_id,
            data,
            f"documents/file_{self._file_counter}.{ext}",
            "document",
            file_name,
            mime_type or _guess_mime(file_name),
        )
        self._files[file_id] = stored
        return self._document_dict(stored)

    @staticmethod
    def _document_dict(stored: StoredFile) -> JSONDict:
        doc = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(stored.data)}
        if stored.file_name:
            doc["file_name"] = stored.file_name
        if stored.mime_type:
            doc["mime_type"] = stored.mime_type
        return doc

    async def _input_file(
        self, value: Any, files: dict[str, tuple[str, bytes]], field_name: str, kind: str
    ) -> tuple[str, bytes] | StoredFile:
        """Resolve an InputFile: multipart upload, ``attach://name``, known file_id or HTTP URL."""
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f"can't parse InputMedia: media not found ({value})")
            return upload
        if value in (None, "") and field_name in files:
            return files[field_name]
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {kind} in the request")
        if re.match(r"https?://", value):
            return await self._fetch_url(value)
        return self._file(value, kind)

    async def _fetch_url(self, url: str) -> tuple[str, bytes]:
        """Telegram downloads URLs itself; works for servers on 127.0.0.1 (e.g. other fakes)."""
        self._http = self._http or aiohttp.ClientSession()
        try:
            async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status != 200:
                    raise bad_request("failed to get HTTP URL content")
                return url.rsplit("/", 1)[-1] or "file", await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            raise bad_request("failed to get HTTP URL content") from None

    # --------------------------------------------------------------------- message composition

    def _formatted(self, params: JSONDict, text_key: str, entities_key: str) -> tuple[str, list[JSONDict]]:
        text = params.get(text_key) or ""
        mode = str(params.get("parse_mode") or "").lower()
        if params.get(entities_key):
            return text, list(params[entities_key])
        if mode:
            if mode not in PARSERS:
                raise bad_request(f"unsupported parse_mode {params['parse_mode']}")
            return PARSERS[mode](text)
        return text, auto_entities(text)

    def _inline_markup(self, params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None  # reply keyboards are not echoed back in the Message
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
                if "url" in button and not re.match(r"(https?|tg)://", button["url"]):
                    raise bad_request("BUTTON_URL_INVALID")
                if len(button) < 2:
                    raise bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                    )
        return markup if any(markup["inline_keyboard"]) else None

    def _reply_to(self, chat: JSONDict, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id, allow = reply.get("message_id"), reply.get("allow_sending_without_reply")
        elif params.get("reply_to_message_id") is not None:
            message_id, allow = params["reply_to_message_id"], params.get("allow_sending_without_reply")
        else:
            return None
        stored = self._messages.get((chat["id"], message_id))
        if stored is None or stored.deleted:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return self._reply_target(chat["id"], message_id)

    def _compose(self, params: JSONDict) -> JSONDict:
        """Common parts of every message the bot sends."""
        chat = self._chat(params)
        msg = self._new_message(chat, self.bot_user, params.get("message_thread_id"))
        if (reply := self._reply_to(chat, params)) is not None:
            msg["reply_to_message"] = reply
        return msg

    def _finish(self, msg: JSONDict, params: JSONDict) -> JSONDict:
        if (markup := self._inline_markup(params)) is not None:
            msg["reply_markup"] = markup
        self._store_message(msg, from_bot=True)
        return copy.deepcopy(msg)

    def _set_caption(self, msg: JSONDict, params: JSONDict) -> None:
        caption, entities = self._formatted(params, "caption", "caption_entities")
        if utf16_len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        if caption:
            msg["caption"] = caption
            if entities:
                msg["caption_entities"] = entities
        if params.get("show_caption_above_media"):
            msg["show_caption_above_media"] = True
        if params.get("has_spoiler"):
            msg["has_media_spoiler"] = True

    def _set_text(self, msg: JSONDict, params: JSONDict) -> None:
        text, entities = self._formatted(params, "text", "entities")
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        msg["text"] = text
        msg.pop("entities", None)
        if entities:
            msg["entities"] = entities

    # ------------------------------------------------------------------------------ API methods

    def _get_me(self, _call: Call) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _delete_webhook(self, call: Call) -> bool:
        self._webhook = {"url": ""}
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, call: Call) -> bool:
        url = call.params.get("url") or ""
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self._webhook = {"url": url}
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, _call: Call) -> JSONDict:
        return {
            "url": self._webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _get_updates(self, call: Call) -> list[JSONDict]:
        if self._webhook["url"]:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        params = call.params
        offset, limit = int(params.get("offset") or 0), min(max(int(params.get("limit") or 100), 1), 100)
        if "allowed_updates" in params:  # persisted like Telegram; [] means "default set"
            self._allowed_updates = frozenset(params["allowed_updates"] or DEFAULT_ALLOWED)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        async with self._poll_cond:
            self._poll_cond.notify_all()  # for wait_until_confirmed
        # a newer getUpdates terminates an older pending one, exactly like Telegram
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()
        deadline = time.monotonic() + max(float(params.get("timeout") or 0), 0.0)
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            ready = [u for u in self._updates if _update_type(u) in self._allowed_updates][:limit]
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0 or self._closing:
                return copy.deepcopy(ready)
            event = self._updates_event
            await self._park_poll(+1)
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass
            finally:
                await self._park_poll(-1)

    async def _park_poll(self, delta: int) -> None:
        async with self._poll_cond:
            self._parked_polls += delta
            self._poll_cond.notify_all()

    def _send_message(self, call: Call) -> JSONDict:
        msg = self._compose(call.params)
        self._set_text(msg, call.params)
        preview = call.params.get("link_preview_options")
        if isinstance(preview, dict) and preview:
            msg["link_preview_options"] = preview
        return self._finish(msg, call.params)

    async def _send_photo(self, call: Call) -> JSONDict:
        msg = self._compose(call.params)
        source = await self._input_file(call.params.get("photo"), call.files, "photo", "photo")
        msg["photo"] = source.photo_sizes if isinstance(source, StoredFile) else self._store_photo(source[1])
        self._set_caption(msg, call.params)
        return self._finish(msg, call.params)

    async def _send_document(self, call: Call) -> JSONDict:
        msg = self._compose(call.params)
        source = await self._input_file(call.params.get("document"), call.files, "document", "document")
        if isinstance(source, StoredFile):
            msg["document"] = self._document_dict(source)
        else:
            msg["document"] = self._store_document(source[1], source[0], None)
        self._set_caption(msg, call.params)
        return self._finish(msg, call.params)

    async def _send_media_group(self, call: Call) -> list[JSONDict]:
        media = call.params.get("media")
        if not media:
            raise bad_request('parameter "media" is required')
        if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
            raise bad_request("can't parse media JSON object")
        if not 2 <= len(media) <= 10:
            raise bad_request("wrong number of media in the message")
        kinds = {m.get("type") for m in media}
        if "document" in kinds and len(kinds) > 1:
            raise bad_request("document can't be mixed with another media types")
        if not kinds <= {"photo", "document"}:
            raise bad_request(f"unsupported media type in fake: {sorted(kinds)}")
        resolved = [await self._input_file(m.get("media"), call.files, "", m["type"]) for m in media]
        group_id = str(secrets.randbits(60))
        sent = []
        for item, source in zip(media, resolved, strict=True):
            msg = self._compose(call.params)
            msg["media_group_id"] = group_id
            if item["type"] == "photo":
                msg["photo"] = source.photo_sizes if isinstance(source, StoredFile) else self._store_photo(source[1])
            else:
                msg["document"] = (
                    self._document_dict(source)
                    if isinstance(source, StoredFile)
                    else self._store_document(source[1], source[0], None)
                )
            self._set_caption(msg, item)
            self._store_message(msg, from_bot=True)  # albums never carry reply_markup
            sent.append(copy.deepcopy(msg))
        return sent

    def _send_chat_action(self, call: Call) -> bool:
        self._chat(call.params)
        if call.params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _edit(self, call: Call, change: Callable[[JSONDict], None]) -> JSONDict:
        if call.params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # inline messages are not modelled
        stored = self._stored(call.params, "edit")
        if not stored.from_bot:
            raise bad_request("message can't be edited")
        new = copy.deepcopy(stored.data)
        new.pop("edit_date", None)
        change(new)
        new.pop("reply_markup", None)
        if (markup := self._inline_markup(call.params)) is not None:
            new["reply_markup"] = markup
        old = {k: v for k, v in stored.data.items() if k != "edit_date"}
        if new == old:
            raise ApiError(400, NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        stored.data = new
        stored.history.append(copy.deepcopy(new))
        return copy.deepcopy(new)

    def _edit_message_text(self, call: Call) -> JSONDict:
        def change(msg: JSONDict) -> None:
            if "text" not in msg:
                raise bad_request("there is no text in the message to edit")
            self._set_text(msg, call.params)

        return self._edit(call, change)

    def _edit_message_caption(self, call: Call) -> JSONDict:
        def change(msg: JSONDict) -> None:
            if "text" in msg:
                raise bad_request("there is no caption in the message to edit")
            for key in ("caption", "caption_entities", "show_caption_above_media"):
                msg.pop(key, None)
            self._set_caption(msg, call.params)

        return self._edit(call, change)

    def _edit_message_reply_markup(self, call: Call) -> JSONDict:
        return self._edit(call, lambda _msg: None)

    def _delete_message(self, call: Call) -> bool:
        stored = self._stored(call.params, "delete")
        stored.deleted = True
        return True

    def _get_file(self, call: Call) -> JSONDict:
        stored = self._files.get(str(call.params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params.get("callback_query_id") or "")
        if self._callback_queries.get(query_id, True):  # unknown or already answered
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if len(call.params.get("text") or "") > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = True
        return True

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> str:
        return json.dumps([scope or {"type": "default"}, language_code or ""], sort_keys=True)

    def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for cmd in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(cmd.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(call.params.get("scope"), call.params.get("language_code"))
        self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _get_my_commands(self, call: Call) -> list[JSONDict]:
        return self.commands(scope=call.params.get("scope"), language_code=call.params.get("language_code") or "")

    def _delete_my_commands(self, call: Call) -> bool:
        self._commands.pop(self._commands_key(call.params.get("scope"), call.params.get("language_code")), None)
        return True

    def _get_chat_member(self, call: Call) -> JSONDict:
        chat = self._chat(call.params)
        user_id = int(call.params.get("user_id") or 0)
        user = self.bot_user if user_id == self.bot_id else self._users.get(user_id) or self.add_user(user_id)
        config = dict(self._members.get((chat["id"], user_id), {"status": "member"}))
        return _chat_member(config.pop("status"), user, config)

    def _get_chat(self, call: Call) -> JSONDict:
        chat = self._chat(call.params)
        gifts = {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        }
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}


# ------------------------------------------------------------------------------------- small utils


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _update_type(update: JSONDict) -> str:
    return next(k for k in update if k != "update_id")


def _default_description(code: int) -> str:
    return {
        400: "Bad Request",
        403: "Forbidden: bot was blocked by the user",
        409: "Conflict",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }.get(code, "Error")


def _guess_mime(file_name: str) -> str:
    return mimetypes.guess_type(file_name)[0] or "application/octet-stream"


def _chat_member(status: str, user: JSONDict, extra: JSONDict) -> JSONDict:
    member: JSONDict = {"status": status, "user": user}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update({"can_be_edited": False, "is_anonymous": False, **dict.fromkeys(_ADMIN_RIGHTS, True)})
    elif status == "restricted":
        member.update({"is_member": True, "until_date": 0, **dict.fromkeys(_RESTRICTED_RIGHTS, False)})
    elif status == "kicked":
        member["until_date"] = 0
    elif status not in ("member", "left"):
        raise ValueError(f"unknown chat member status {status!r}")
    member.update(extra)
    return member


_ADMIN_RIGHTS: tuple[str, ...] = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
)
_RESTRICTED_RIGHTS: tuple[str, ...] = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)
