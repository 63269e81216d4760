"""Console logging: log lines go to a file, never into the transcript.

The terminal belongs to the conversation; the operator's log (secrets redacted as everywhere) is written
to `CONSOLE_LOG_FILE`, by default `atelier-console.log` in DATA_DIR (beside a SQLite database). Should that
file not open, warnings go to standard error, each line marked `[atelier log]` so it reads apart from the replies."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from bot.config import Settings
from bot.logs import formatter_for
from bot.redaction import RedactingFilter, secrets_of

LOG_NAME = "atelier-console.log"
STDERR_PREFIX = "[atelier log]"


def console_log_path(settings: Settings) -> Path:
    return Path(settings.console_log_file) if settings.console_log_file else settings.files_dir / LOG_NAME


def configure_console_logging(settings: Settings) -> Path | None:
    """Returns the log file's path, or None when logs go to standard error instead."""
    path = console_log_path(settings).expanduser()
    handler: logging.Handler
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=False)
        handler.setLevel(logging.INFO)
        handler.setFormatter(formatter_for(settings.log_format))
        logged_to: Path | None = path
    except OSError:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter(f"{STDERR_PREFIX} %(levelname)s %(name)s: %(message)s"))
        logged_to = None
    handler.addFilter(RedactingFilter(secrets_of(settings)))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # httpx logs every request URL at INFO; URLs may carry tokens.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return logged_to
