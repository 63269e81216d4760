"""`atelier run` stopped with SIGTERM while an image job runs (issue 9, item 2), and adapters that cannot start
(item 19): a real process against FakeTelegram and a slow FakeAgnes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_harness import (
    GROUP,
    USER,
    fake_telegram_fixture,  # noqa: F401 - a pytest fixture
    says,
    uploaded_image,
)

ROOT = Path(__file__).resolve().parent.parent


def bot_env(tmp_path: Path, agnes: FakeAgnes, fake: FakeTelegram, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_BASE_URL": fake.base_url,
        "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        "TELEGRAM_PROGRESS_DELAY_SECONDS": "0",
        "AGNES_API_KEY": agnes.api_key,
        "AGNES_BASE_URL": agnes.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'atelier.db'}",
        **extra,
    }


class Process:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr: list[str] = []

    async def line(self, text: str, timeout: float = 15) -> None:
        """Read stderr (the log) until a line containing `text`."""
        assert self.process.stderr is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.process.stderr.readline()
                if not raw:
                    raise AssertionError(f"the process ended before logging {text!r}: {self.stderr}")
                self.stderr.append(raw.decode())
                if text in self.stderr[-1]:
                    return

    async def finish(self, timeout: float = 30) -> str:
        out, err = await asyncio.wait_for(self.process.communicate(), timeout)
        return "".join(self.stderr) + err.decode() + out.decode()


@asynccontextmanager
async def atelier_run(env: dict[str, str], cwd: Path) -> AsyncIterator[Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=cwd,
    )  # fmt: skip
    try:
        yield Process(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def image_request(agnes: FakeAgnes, timeout: float = 15) -> None:
    """Wait until the provider has the job (the fake sets `_changed` on every request)."""
    async with asyncio.timeout(timeout):
        while not agnes.image_requests():
            agnes._changed.clear()
            await agnes._changed.wait()


def job_rows(tmp_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "atelier.db") as db:
        return list(db.execute("SELECT status, kind FROM jobs"))


def charged(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "atelier.db") as db:
        return db.execute("SELECT COALESCE(SUM(used), 0) FROM usage WHERE counter LIKE 'user:%'").fetchone()[0]


async def test_sigterm_mid_job_delivers_the_paid_photo_before_closing(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    fake_agnes.faults = ["timeout"]  # the provider answers only when released
    async with atelier_run(bot_env(tmp_path, fake_agnes, fake_telegram), tmp_path) as bot:
        await bot.line("telegram adapter started")
        await fake_telegram.wait_for_long_poll(timeout=15)
        fake_telegram.push_message(USER, "/imagine a lighthouse at dusk")
        await image_request(fake_agnes)
        bot.process.send_signal(signal.SIGTERM)
        await bot.line("stopping")
        fake_telegram.push_message(GROUP, "/imagine too late", user_id=2002)  # intake has stopped
        fake_agnes.release()
        photo = await fake_telegram.wait_for("sendPhoto", timeout=15)
        logs = await bot.finish()

    assert bot.process.returncode == 0, logs
    assert photo.ok and uploaded_image(photo).format == "PNG" and photo.chat_id == USER
    assert job_rows(tmp_path) == [("done", "imagine")] and charged(tmp_path) == 1
    assert [c for c in fake_telegram.calls() if c.chat_id == GROUP] == []  # nothing taken after SIGTERM
    assert "not initialized" not in logs and "Traceback" not in logs
    assert fake_telegram.token not in logs


async def test_a_job_cut_off_by_the_grace_period_is_refunded_and_its_user_told(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    fake_agnes.faults = ["timeout"]  # never answers before the process is gone
    env = bot_env(tmp_path, fake_agnes, fake_telegram, SHUTDOWN_GRACE_SECONDS="0.5")
    async with atelier_run(env, tmp_path) as bot:
        await bot.line("telegram adapter started")
        await fake_telegram.wait_for_long_poll(timeout=15)
        fake_telegram.push_message(USER, "/imagine a lighthouse at dusk")
        await image_request(fake_agnes)
        bot.process.send_signal(signal.SIGTERM)
        told = await fake_telegram.wait_for("sendMessage", says("not charged"), timeout=15)
        logs = await bot.finish()

    assert bot.process.returncode == 0, logs
    assert told.ok and told.chat_id == USER and "cut off" in told.params["text"]
    assert job_rows(tmp_path) == [("cancelled", "imagine")] and charged(tmp_path) == 0
    assert fake_telegram.calls("sendPhoto") == []
    status = [c for c in fake_telegram.calls("sendMessage") if "Working" in str(c.params.get("text"))]
    deleted = {c.params["message_id"] for c in fake_telegram.calls("deleteMessage") if c.ok}
    calls = [(c.method, c.status, c.params.get("text"), c.params.get("message_id")) for c in fake_telegram.calls()]
    assert all(s.result["message_id"] in deleted for s in status), (calls, logs)  # no "Working… / Cancel" left
    assert "Traceback" not in logs


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_platform_that_cannot_start_stops_the_process_with_one_line(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    unreachable = f"http://127.0.0.1:{closed_port()}/bot"
    cases = {
        "rejected": bot_env(tmp_path, fake_agnes, fake_telegram, TELEGRAM_TOKEN="999999:WRONG-token-aBcDeFgHiJkL"),
        "unreachable": bot_env(tmp_path, fake_agnes, fake_telegram, TELEGRAM_BASE_URL=unreachable),
    }
    for case, env in cases.items():
        async with atelier_run(env, tmp_path) as bot:
            _, err = await asyncio.wait_for(bot.process.communicate(), 30)  # never a hang
        lines = err.decode().strip().splitlines()
        assert bot.process.returncode == 1, (case, lines)
        assert len(lines) == 1 and lines[0].startswith("atelier: could not start telegram: "), (case, lines)
        assert "WRONG-token" not in lines[0] and fake_telegram.token not in lines[0]
    assert job_rows(tmp_path) == []


async def test_a_second_platform_that_cannot_start_stops_the_first_too(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()  # points discord.py's REST base at a closed port, as the Discord tests' fake does in-process
    (shim / "sitecustomize.py").write_text(
        f"import discord.http\ndiscord.http.Route.BASE = 'http://127.0.0.1:{closed_port()}/api/v10'\n"
    )
    env = bot_env(tmp_path, fake_agnes, fake_telegram, DISCORD_TOKEN="MTIz.fake-discord-token.aBcDeF")
    env["PYTHONPATH"] = f"{shim}{os.pathsep}{ROOT}"
    async with atelier_run(env, tmp_path) as bot:
        await bot.line("telegram adapter started")
        logs = await bot.finish()  # never a hang

    ours = [line for line in logs.splitlines() if line.startswith("atelier:")]
    assert bot.process.returncode == 1, logs
    assert len(ours) == 1 and ours[0].startswith("atelier: could not start discord: "), logs
    assert "fake-discord-token" not in logs and "Traceback" not in logs
    assert "Application.stop() complete" in logs  # the Telegram side was closed cleanly
