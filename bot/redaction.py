"""Secrets never reach a log line: a logging filter that masks every configured token and key."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from bot.config import Settings

# Telegram file and API URLs carry the bot token in their path.
_TELEGRAM_TOKEN = re.compile(r"\d{5,12}(?::|%3A)[A-Za-z0-9_-]{20,}")


def secrets_of(settings: Settings) -> list[str]:
    found = []
    for name, value in settings:
        if value is not None and hasattr(value, "get_secret_value") and value.get_secret_value():
            found.append(value.get_secret_value())
        elif name.endswith(("_api_key", "_password", "_token", "_secret")) and isinstance(value, str) and value:
            found.append(value)
    return found


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if len(secret) >= 4:
            # URLs may carry a secret percent-encoded (a Telegram token's ':' becomes %3A).
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return _TELEGRAM_TOKEN.sub("***", text)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = secrets

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
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
