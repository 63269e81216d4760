"""Issue 9, item 23: the console reads input while a job runs. `/cancel` and Ctrl-C stop a job the slow
upstream is still working on (refunded: `/usage` shows nothing used), and a running job shows progress."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.console_session import PipedConsole, TerminalConsole
from tests.fakes.agnes_server import FakeAgnes

NOTHING_USED = "Images today: you 0/20"


@pytest.fixture
def env(fake_agnes: FakeAgnes) -> dict[str, str]:
    # The first image request hangs until the fake stops: only a cancel can end that job.
    fake_agnes.faults = ["timeout"]
    return {
        "AGNES_API_KEY": fake_agnes.api_key,
        "AGNES_BASE_URL": fake_agnes.base_url,
        "CONSOLE_PROGRESS_SECONDS": "1",
    }


@pytest.fixture
async def console(env: dict[str, str], tmp_path: Path) -> AsyncIterator[PipedConsole]:
    session = await PipedConsole.start(env, tmp_path)
    yield session
    await session.kill()


async def test_cancel_is_read_while_the_job_runs_and_nothing_is_charged(
    console: PipedConsole, fake_agnes: FakeAgnes
) -> None:
    await console.send("/imagine a lighthouse at dusk")
    # Piped output: a plain progress line per second of the job while the upstream works.
    assert "Working… 1s" in await console.expect("Working…")
    await fake_agnes.wait_until(lambda: len(fake_agnes.image_requests()) == 1)

    await console.send("/cancel")
    await console.expect("! Cancelled. Nothing was charged.")
    await console.send("/usage")
    await console.expect(NOTHING_USED)

    code, out, err = await console.finish()
    assert code == 0, err
    assert "Traceback" not in out + err


async def test_ctrl_c_cancels_and_refunds_the_job_and_ctrl_c_when_idle_quits(
    console: PipedConsole, fake_agnes: FakeAgnes
) -> None:
    await console.send("/imagine a lighthouse at dusk")
    await console.expect("Working…")
    console.interrupt()
    await console.expect("! Cancelled. Nothing was charged.")

    # Still running, and refunded: the next image is made and is the only one counted.
    await console.send("/usage")
    await console.expect(NOTHING_USED)
    await console.send("/imagine a lighthouse at dawn")
    await console.expect("saved ")
    await console.send("/usage")
    await console.expect("Images today: you 1/20")
    assert len(fake_agnes.image_requests()) == 2

    console.interrupt()  # nothing running: Ctrl-C quits
    code, out, err = await console.finish(close_input=False)
    assert code == 130
    assert "Traceback" not in out + err


async def test_ctrl_c_during_a_streamed_answer_stops_it(
    env: dict[str, str], tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.latency = 60.0  # the answer's first chunk arrives, the rest never does in time
    session = await PipedConsole.start(env, tmp_path)
    try:
        await session.send("tell me about lighthouses")
        await session.expect(fake_agnes.chat_reply[: fake_agnes.chat_chunk])
        session.interrupt()
        await session.expect("Stopped.")
        await session.send("/help")
        await session.expect("/imagine")
        code, out, err = await session.finish()
    finally:
        await session.kill()
    assert code == 0, err
    assert "Traceback" not in out + err


async def test_a_terminal_shows_one_updating_progress_line_and_takes_cancel(
    env: dict[str, str], tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    terminal = await TerminalConsole.start(env, tmp_path)
    try:
        await terminal.expect("> ")
        await terminal.type("/imagine a lighthouse at dusk\n")
        await terminal.expect("Working… 2s")
        # The line is rewritten in place (carriage return, clear line), never a new line per update.
        assert "\r\x1b[2K🎨 Working… 1s\r\x1b[2K🎨 Working… 2s" in terminal.screen
        await terminal.type("/cancel\n")
        await terminal.expect("! Cancelled. Nothing was charged.")
        await terminal.type("/usage\n")
        await terminal.expect(NOTHING_USED)
        code, screen, err = await terminal.finish()
    finally:
        await terminal.close()
    assert code == 0, err
    assert "Traceback" not in screen + err


async def test_ctrl_c_twice_mid_job_quits_and_the_job_is_refunded(console: PipedConsole, tmp_path: Path) -> None:
    await console.send("/imagine a lighthouse at dusk")
    await console.expect("Working…")
    console.interrupt()
    await console.expect("Stopping…")
    console.interrupt()  # still stopping, or already stopped and idle: either way it quits
    code, out, err = await console.finish(close_input=False)
    assert code == 130
    assert "! Cancelled. Nothing was charged." in out
    assert "Traceback" not in out + err
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "atelier.db")) as db:
        assert db.execute("SELECT status FROM jobs").fetchall() == [("cancelled",)]
        assert db.execute("SELECT SUM(used) FROM usage").fetchone() in [(0,), (None,)]
