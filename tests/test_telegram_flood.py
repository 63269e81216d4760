"""Flood limits must not lose paid images (issue 9, item 4): every call to a chat takes a turn in one
paced lane, results before chatter, and a result is retried until it goes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from telegram.error import RetryAfter

from adapters.telegram.pacing import EditPacer, Priority
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_harness import (
    GROUP,
    fake_telegram_fixture,  # noqa: F401 - a pytest fixture
    running_bot,
)

MEMBER, OTHER = 3003, 4004


def jobs_by_status(tmp_path: Path) -> dict[str, int]:
    with sqlite3.connect(tmp_path / "atelier.db") as db:
        return dict(db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"))


async def test_forty_imagines_under_group_flood_limits_deliver_every_charged_image(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # RetryAfter.retry_after as a timedelta, PTB's future default
    # Telegram's ~20 messages a minute in a group, scaled down (and tighter than the lane's pace): 3 per 3 s.
    fake_telegram.limit_chat_rate(per_window=3, window=3.0)
    async with running_bot(tmp_path, fake_agnes, fake_telegram, rate_limit_per_user_per_minute=6) as tg:
        for n in range(40):
            fake_telegram.push_message(GROUP, f"/imagine castle number {n}", user_id=MEMBER)
        fake_telegram.push_message(GROUP, "/imagine a quiet harbour", user_id=OTHER)
        await fake_telegram.wait_for("sendPhoto", lambda c: c.ok, count=7, timeout=90)
        await tg.idle(timeout=60)
        statuses = jobs_by_status(tmp_path)

    photos = [c for c in fake_telegram.calls("sendPhoto") if c.ok]
    assert statuses == {"done": 7}  # 6 within the member's rate, 1 for the other member: all delivered
    assert len(photos) == 7 and any("harbour" in str(c.params.get("caption")) for c in photos)
    assert any(c.status == 429 for c in fake_telegram.calls()), [(c.method, c.status) for c in fake_telegram.calls()]


async def test_a_waiting_result_goes_before_waiting_chatter() -> None:
    clock = FakeClock()
    lane = EditPacer(3.0, clock)
    order: list[str] = []

    def call(name: str):
        async def sent() -> str:
            order.append(name)
            return name

        return sent

    lane.mark()  # a message just went: the next waits 3 s
    calls = [
        asyncio.create_task(lane.call(call("status"), "editMessageText", Priority.STATUS)),
        asyncio.create_task(lane.call(call("slow down"), "sendMessage", Priority.NOTICE)),
        asyncio.create_task(lane.call(call("photo"), "sendPhoto", Priority.RESULT)),
    ]
    async with clock.autojump():
        await asyncio.gather(*calls)
    assert order == ["photo", "slow down", "status"]


async def test_a_result_is_retried_past_the_chatter_retry_limit() -> None:
    clock = FakeClock()
    lane = EditPacer(0.0, clock)
    attempts = 0

    async def flooded() -> str:
        nonlocal attempts
        attempts += 1
        if attempts <= 8:
            raise RetryAfter(5)
        return "sent"

    async with clock.autojump():
        assert await lane.call(flooded, "sendPhoto", Priority.RESULT) == "sent"
    assert attempts == 9 and clock.sleeps.count(5.0) == 8  # each wait as long as Telegram asked


async def test_a_result_waits_for_telegrams_holds_but_not_for_the_courtesy_pace() -> None:
    clock = FakeClock()
    lane = EditPacer(3.0, clock)
    lane.mark()  # the status message just went: chatter now waits 3 s

    async def sent() -> str:
        return "sent"

    start = clock.now()
    assert await lane.call(sent, "sendPhoto", Priority.RESULT) == "sent"
    assert clock.now() == start  # the photo went at once
    lane.hold(5.0)  # Telegram said wait: the photo waits too
    async with clock.autojump():
        await lane.call(sent, "sendPhoto", Priority.RESULT)
    assert clock.now() == start + 5.0


async def test_a_finished_answers_last_edit_skips_the_pace_while_the_minutes_budget_allows() -> None:
    clock = FakeClock()
    lane = EditPacer(3.0, clock)  # a group: 20 calls a minute
    ended = asyncio.Event()
    lane.mark()  # an edit just went: the next waits 3 s

    async def last_edit() -> float:
        async with lane.turn(Priority.ANSWER, hurry=ended):
            return clock.now()

    start = clock.now()
    waiting = asyncio.create_task(last_edit())
    await asyncio.sleep(0)
    clock.advance(1.0)
    ended.set()  # the stream ends while the edit waits for its pace: it goes now, not 2 s later
    assert await asyncio.wait_for(waiting, 1.0) == start + 1.0

    for _ in range(19):  # the minute's budget spent (20 calls in 60 s): the pace holds again
        lane.mark()
    async with clock.autojump():
        went = await last_edit()
    assert went == start + 1.0 + 3.0
