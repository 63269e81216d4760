"""Secrets never reach a log line, a stored row or a user: every configured token and key is masked,
and so are the forms it travels in (percent-encoded in URLs, base64 in Basic auth, after `Bearer`)."""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit

from bot.config import Settings
from bot.logs import formatter_for

# Telegram file and API URLs carry the bot token in their path.
_TELEGRAM_TOKEN = re.compile(r"\d{5,12}(?::|%3A)[A-Za-z0-9_-]{20,}")
MASK = "***"
_MIN_SECRET = 4
# A base64 run shorter than this could match innocent text by chance.
_MIN_ENCODED = 8
_KEY_HEADERS = ("x-api-key", "api-key", "x-goog-api-key")


def secrets_of(settings: Settings) -> list[str]:
    found = []
    for name, value in settings:
        if value is not None and hasattr(value, "get_secret_value") and value.get_secret_value():
            found.append(value.get_secret_value())
        elif name.endswith(("_api_key", "_password", "_token", "_secret")) and isinstance(value, str) and value:
            found.append(value)
    database_password = urlsplit(settings.database_url).password
    if database_password:  # a PostgreSQL URL's password, as written and decoded
        found += [database_password, unquote(database_password)]
    password = settings.a1111_password
    if settings.a1111_username and password is not None and password.get_secret_value():
        found.append(f"{settings.a1111_username}:{password.get_secret_value()}")  # what Basic auth encodes
    return found


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The credentials a request carried: its Authorization value (and the token after the scheme, and
    a Basic password decoded) and API-key headers. What an upstream could echo back at us."""
    found: list[str] = []
    authorization = headers.get("authorization", "")
    if authorization:
        found.append(authorization)
        scheme, _, token = authorization.partition(" ")
        if token:
            found.append(token.strip())
            if scheme.lower() == "basic":
                found += _basic_parts(token.strip())
    found += [headers[name] for name in _KEY_HEADERS if headers.get(name)]
    return [secret for secret in found if len(secret) >= _MIN_SECRET]


def _basic_parts(token: str) -> list[str]:
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return []
    return [decoded, decoded.partition(":")[2]]


def _base64_cores(secret: bytes) -> list[str]:
    """The stretch of base64 that encodes `secret` wherever it sits in a longer encoded value (each of the
    three alignments), so `base64("user:" + key)` is caught as well as `base64(key)`."""
    cores = [base64.b64encode(secret).decode("ascii").rstrip("=")]  # standalone
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode("ascii")
        first_group = 0 if offset == 0 else 1  # a group mixing what precedes with the secret is not the secret's
        last_group = (offset + len(secret)) // 3  # groups wholly inside the secret end here
        cores.append(encoded[first_group * 4 : last_group * 4])
    cores = [core for core in cores if len(core) >= _MIN_ENCODED]
    return cores + [core.replace("+", "-").replace("/", "_") for core in cores]


def variants(secret: str) -> list[str]:
    """Every form of `secret` worth masking, longest first."""
    forms = {secret, quote(secret, safe=""), quote(secret, safe=":/")}
    forms.update(_base64_cores(secret.encode()))
    return sorted((form for form in forms if len(form) >= _MIN_SECRET), key=len, reverse=True)


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms = sorted({form for secret in secrets if len(secret) >= _MIN_SECRET for form in variants(secret)}, key=len)
    if not forms:
        return None
    return re.compile("|".join(re.escape(form) for form in reversed(forms)))


def redact(text: str, secrets: Iterable[str]) -> str:
    pattern = _pattern(tuple(secrets))
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _TELEGRAM_TOKEN.sub(MASK, text)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self._secrets)
        if record.exc_info and record.exc_info[1] is not None:
            cleaned_exc = redact(logging.Formatter().formatException(record.exc_info), self._secrets)
            record.exc_info = None
            cleaned = f"{cleaned}\n{cleaned_exc}"
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(settings.log_format))  # LOG_FORMAT: text, or one JSON object a line
    handler.addFilter(RedactingFilter(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
