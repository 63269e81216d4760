"""Small validated types for settings, so `bot/config.py` stays a list of fields. Each error message is
one plain sentence; `load_settings` puts the setting's name in front of it."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, SecretStr

_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])i?B?|B)?\s*$", re.IGNORECASE)
_BYTE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_URL = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[^/\s:\[\]]+)(:\d{1,5})?([/?]\S*)?$")
_LISTEN = re.compile(r"^[^\s:]*:\d{1,5}$")
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_INLINE_COMMENT = re.compile(r"\s#")


def parse_byte_size(value: object) -> object:
    """`20MB`, `512KB`, `1.5 GB`, `20MiB` or plain bytes. K, M, G and T are binary (1 MB = 1,048,576
    bytes), as the defaults are. Other types pass through for pydantic to judge."""
    if not isinstance(value, str):
        return value
    match = _BYTES.match(value)
    if not match:
        raise ValueError(f"'{value.strip()}' is not a size like 20MB, 512KB, 1.5 GB or a number of bytes")
    return int(float(match.group(1)) * _BYTE_UNITS[(match.group(2) or "").upper()])


def _http_url(value: str | None) -> str | None:
    if value is not None and not _URL.match(value):
        raise ValueError(f"'{value}' is not an http:// or https:// URL")
    return value


def _https_url(value: str | None) -> str | None:
    if value is not None and not value.startswith("https://"):
        raise ValueError("Telegram only sends webhooks to an https:// URL")
    return _http_url(value)


def _listen_address(value: str) -> str:
    if not _LISTEN.match(value) or not 0 <= int(value.rpartition(":")[2]) <= 65535:
        raise ValueError(f"'{value}' is not an address like 0.0.0.0:8080")
    return value


def _id_list(value: str) -> str:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not all(item.isascii() and item.isdigit() for item in items):
        raise ValueError("expected comma-separated numeric ids, e.g. 123456789012345678,234567890123456789")
    return value


def _telegram_secret(value: SecretStr | None) -> SecretStr | None:
    if value is not None and not _TELEGRAM_SECRET.match(value.get_secret_value()):
        raise ValueError("Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - (the value is not shown)")
    return value


def refuse_inline_comment(value: object) -> object:
    """`docker --env-file` keeps `VALUE   # comment` whole: refuse it rather than use it."""
    if isinstance(value, str) and _INLINE_COMMENT.search(value):
        raise ValueError("the value contains ' #': put comments on their own line (the value is not shown)")
    return value


ByteSize = Annotated[int, BeforeValidator(parse_byte_size)]
"""A byte count that reads `20MB` as well as `20971520`: use it for every `*_BYTES` setting."""
HttpUrl = Annotated[str, AfterValidator(_http_url)]
OptionalHttpUrl = Annotated[str | None, AfterValidator(_http_url)]
WebhookUrl = Annotated[str | None, AfterValidator(_https_url)]
ListenAddress = Annotated[str, AfterValidator(_listen_address)]
IdList = Annotated[str, AfterValidator(_id_list)]
TelegramSecret = Annotated[SecretStr | None, AfterValidator(_telegram_secret)]
