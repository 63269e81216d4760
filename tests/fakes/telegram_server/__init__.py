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

Layout: ``server`` composes :class:`FakeTelegram` from one mixin per area -- ``state`` (shared state),
``api`` (HTTP layer + recording), ``flood`` (injected 429s/errors), ``updates`` (push, getUpdates, webhook),
``callbacks``, ``sending``, ``editing``, ``files``, ``members``, ``commands`` and ``recording`` (reads and waits);
``models`` and ``formatting`` hold shared types and the entity parsers.
"""

from .api import coerce_param, parse_multipart
from .formatting import PARSERS, auto_entities, parse_html, parse_markdown, parse_markdown_v2, utf16_len
from .models import (
    CHAT_ACTIONS,
    DEFAULT_ALLOWED,
    DEFAULT_USER_ID,
    MAX_CAPTION,
    MAX_DOWNLOAD,
    MAX_TEXT,
    NOT_MODIFIED,
    STRING_PARAMS,
    ApiError,
    Call,
    CallPredicate,
    JSONDict,
    RecordedRequest,
    StoredFile,
    StoredMessage,
    bad_request,
)
from .server import FakeTelegram

__all__ = [
    "CHAT_ACTIONS",
    "DEFAULT_ALLOWED",
    "DEFAULT_USER_ID",
    "MAX_CAPTION",
    "MAX_DOWNLOAD",
    "MAX_TEXT",
    "NOT_MODIFIED",
    "PARSERS",
    "STRING_PARAMS",
    "ApiError",
    "Call",
    "CallPredicate",
    "FakeTelegram",
    "JSONDict",
    "RecordedRequest",
    "StoredFile",
    "StoredMessage",
    "auto_entities",
    "bad_request",
    "coerce_param",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "parse_multipart",
    "utf16_len",
]
