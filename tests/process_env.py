"""The environment a test gives an `atelier` subprocess: only what it sets (no .env, no developer's keys)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent


def process_env(**env: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env}


def telegram_bot_env(tmp_path: Path, agnes: FakeAgnes, telegram: FakeTelegram, **env: str) -> dict[str, str]:
    """A Telegram bot on the fakes, its database in `tmp_path`."""
    return process_env(
        TELEGRAM_TOKEN=telegram.token,
        TELEGRAM_BASE_URL=telegram.base_url,
        TELEGRAM_BASE_FILE_URL=telegram.base_file_url,
        AGNES_API_KEY=agnes.api_key,
        AGNES_BASE_URL=agnes.base_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'atelier.db'}",
        **env,
    )
