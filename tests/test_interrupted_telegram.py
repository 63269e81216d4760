"""After a crash, on Telegram: a job the dead process left running is refunded at start, its
"Working… / Cancel" status is edited to say so with its button gone, and its Cancel button says it was
interrupted. The dead process is simulated: its status message sent as the bot, its running job row
owned by an instance whose lease expired long ago."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from telegram import Bot

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.status import cancel_keyboard
from bot.commands.actions import INTERRUPTED_NOTICE
from bot.core import Atelier
from bot.lease import HEARTBEAT_SECONDS
from bot.store.instances import LEASE_TTL_SECONDS
from bot.store.jobs import JobStatus
from tests.crashed_jobs import leave_crashed_job
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_harness import (  # noqa: F401 - pytest fixtures
    GROUP,
    USER,
    buttons,
    fake_telegram_fixture,
    running_bot,
    telegram_settings,
    text_of,
)

pytestmark = pytest.mark.timeout(30)


async def crashed_job(
    path: Path,
    job_id: str,
    *,
    chat: int,
    user: int,
    request_message: int,
    status: dict | None,
    last_beat: float | None = None,
) -> None:
    origin = {"chat": chat, "thread": None, "message": request_message, "group": chat < 0, "user": user, "name": "Ada"}
    scope = f"telegram:guild:{chat}" if chat < 0 else f"telegram:private:{user}"
    await leave_crashed_job(
        path, job_id, user_key=f"telegram:{user}", scope=scope, origin=origin, status=status, last_beat=last_beat
    )


async def test_an_interrupted_jobs_status_is_edited_its_button_removed_and_cancel_explains(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    fake = fake_telegram
    fake.add_chat(USER)
    async with Bot(fake.token, base_url=fake.base_url) as bot:  # the dead process's status message
        status = await bot.send_message(USER, "🎨 Working… 12s", reply_markup=cancel_keyboard("crashedjob"))
    settings = telegram_settings(tmp_path, fake_agnes, fake)
    await crashed_job(
        settings.database_path, "crashedjob", chat=USER, user=USER, request_message=1,
        status={"chat": USER, "message": status.message_id},
    )  # fmt: skip

    async with running_bot(tmp_path, fake_agnes, fake) as tg:
        edit = await fake.wait_for("editMessageText")
        assert edit.ok and edit.params["message_id"] == status.message_id
        assert text_of(edit) == INTERRUPTED_NOTICE
        shown = fake.message(USER, status.message_id)
        assert shown is not None and "reply_markup" not in shown  # no Cancel button left
        record = await tg.core.store.jobs.get("crashedjob")
        assert record is not None and record.status is JobStatus.FAILED
        assert (await tg.core.store.quotas.usage(f"telegram:private:{USER}", f"telegram:{USER}")).user_used == 0

        # A Cancel press on the old message (a client that still shows it) explains, once more.
        fake.push_callback_query(fake.message(USER, status.message_id), "atelier:cancel:crashedjob")
        answer = await fake.wait_for("answerCallbackQuery")
        assert answer.params["text"] == INTERRUPTED_NOTICE

        await tg.restart()  # told once: a second start edits nothing
        await tg.idle()
        assert len(fake.calls("editMessageText")) == 1
        assert [c for c in fake.calls("sendMessage") if "interrupted" in text_of(c)] == []


async def test_an_interrupted_job_without_a_status_gets_a_reply_mentioning_its_user(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    fake = fake_telegram
    fake.add_chat(GROUP)
    settings = telegram_settings(tmp_path, fake_agnes, fake)
    await crashed_job(settings.database_path, "quickjob", chat=GROUP, user=USER, request_message=7, status=None)

    async with running_bot(tmp_path, fake_agnes, fake):
        told = await fake.wait_for("sendMessage", lambda call: "interrupted" in text_of(call))
        assert told.params["chat_id"] == GROUP
        assert f"tg://user?id={USER}" in text_of(told) and told.params.get("parse_mode") == "HTML"
        assert buttons(told) == []


async def test_a_running_jobs_origin_and_status_message_are_stored_for_after_a_crash(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    fake_agnes.faults = ["timeout"]  # held until released
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        sent = fake_telegram.push_message(GROUP, "/imagine@AtelierBot a lighthouse", user_id=USER)
        status = await fake_telegram.wait_for("sendMessage", lambda call: "Working" in text_of(call))
        row = None
        async with asyncio.timeout(5):
            while row is None or row["status_ref"] is None:
                row = await tg.core.store.db.fetchone("SELECT origin, status_ref FROM jobs")
                await asyncio.sleep(0.01)
        assert json.loads(row["status_ref"]) == {"chat": GROUP, "message": status.result["message_id"]}
        origin = json.loads(row["origin"])
        assert (origin["chat"], origin["message"], origin["user"]) == (GROUP, sent["message"]["message_id"], USER)
        fake_agnes.release()
        await fake_telegram.wait_for("sendPhoto")


async def test_a_crash_and_quick_restart_tells_the_user_once_the_dead_lease_expires(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    """Restarted by its supervisor within seconds, the process finds the dead one's lease still live; the
    job is refunded by a later heartbeat, and its user told then, without waiting for another restart."""
    fake = fake_telegram
    fake.add_chat(USER)
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        status = await bot.send_message(USER, "🎨 Working… 3s", reply_markup=cancel_keyboard("crashedjob"))
    settings = telegram_settings(tmp_path, fake_agnes, fake)
    clock = FakeClock(start=1_800_000_000.0)
    await crashed_job(
        settings.database_path, "crashedjob", chat=USER, user=USER, request_message=1,
        status={"chat": USER, "message": status.message_id}, last_beat=clock.now(),
    )  # fmt: skip
    core = await Atelier.start(settings, lease_clock=clock)
    adapter = TelegramAdapter(core, settings)
    try:
        await adapter.start()
        assert fake.calls("editMessageText") == []  # its lease still looks live
        for _ in range(int(LEASE_TTL_SECONDS // HEARTBEAT_SECONDS) + 1):  # until the dead lease expires
            await clock.sleeping(lambda remaining: remaining == HEARTBEAT_SECONDS)
            clock.advance(HEARTBEAT_SECONDS)
        edit = await fake.wait_for("editMessageText")
        assert edit.params["message_id"] == status.message_id and text_of(edit) == INTERRUPTED_NOTICE
    finally:
        await adapter.stop()
        await core.close()
