"""`python -m bot run` as an operator runs it: a real process talking to FakeTelegram and FakeAgnes,
stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_harness import (
    USER,
    buttons,
    fake_telegram_fixture,  # noqa: F401 - a pytest fixture
    uploaded_image,
)

ROOT = Path(__file__).resolve().parent.parent


async def test_atelier_run_serves_telegram_and_stops_on_sigterm(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_TOKEN": fake_telegram.token,
        "TELEGRAM_BASE_URL": fake_telegram.base_url,
        "TELEGRAM_BASE_FILE_URL": fake_telegram.base_file_url,
        "AGNES_API_KEY": fake_agnes.api_key,
        "AGNES_BASE_URL": fake_agnes.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'atelier.db'}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        await fake_telegram.wait_for_long_poll(timeout=15)
        fake_telegram.push_message(USER, "/imagine a lighthouse at dusk")
        photo = await fake_telegram.wait_for("sendPhoto", timeout=15)
        assert uploaded_image(photo).format == "PNG" and len(buttons(photo)) == 4
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    logs = (out + err).decode()
    assert process.returncode == 0, logs
    assert "telegram adapter started" in logs
    assert fake_telegram.token not in logs and fake_agnes.api_key not in logs
    assert "Traceback" not in logs
