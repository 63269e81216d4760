"""`python -m bot run` as an operator runs it: a real process talking to FakeTelegram and FakeAgnes,
stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram
from tests.process_env import telegram_bot_env
from tests.test_telegram_harness import (
    USER,
    buttons,
    fake_telegram_fixture,  # noqa: F401 - a pytest fixture
    uploaded_image,
)


async def test_atelier_run_serves_telegram_and_stops_on_sigterm(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    env = telegram_bot_env(tmp_path, fake_agnes, fake_telegram)
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
