"""The job path seen from Telegram (issue 9, items 15 and 16): python-telegram-bot against FakeTelegram
and FakeAgnes. A delivery Telegram keeps refusing ends refunded at its deadline; a forged button from
another group touches nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.messages import Action, action_id
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_harness import (  # noqa: F401 - pytest fixtures
    BOT_NAME,
    GROUP,
    USER,
    buttons,
    fake_telegram_fixture,
    running_bot,
    says,
    text_of,
)

pytestmark = pytest.mark.timeout(30)
OTHER_GROUP = -1009876543210


async def test_a_result_telegram_keeps_refusing_is_refunded_at_the_delivery_deadline(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    # Each clock reading moves time on a little, so the chat's pacing (a microsecond here) never waits.
    fast = {"telegram_stream_edit_seconds_private": 1e-6, "delivery_deadline_seconds": 10}
    async with running_bot(tmp_path, fake_agnes, fake_telegram, **fast) as tg:
        clock = tg.adapter.outbox.clock = tg.core.runner.clock = FakeClock(step=1e-3)
        refunded, refund = asyncio.Event(), tg.core.store.quotas.refund

        async def noted_refund(*args: Any, **kwargs: Any) -> Any:
            try:
                return await refund(*args, **kwargs)
            finally:
                refunded.set()

        tg.core.store.quotas.refund = noted_refund  # type: ignore[method-assign]
        tg.fake.fail_next("sendPhoto", retry_after=45, times=100)  # flood control, for as long as we try
        tg.fake.push_message(USER, "/imagine a patient cat")
        refused = await tg.fake.wait_for("sendPhoto")
        await clock.sleeping(lambda remaining: remaining > 40)  # the chat waits out Telegram's 45 s
        clock.advance(10)  # the delivery deadline passes first
        async with asyncio.timeout(5):
            await refunded.wait()  # the upload was stopped before the job was refunded
        await clock.sleeping(lambda remaining: 30 < remaining < 40)  # the refusal waits for the chat too
        clock.advance(40)
        told = await tg.fake.wait_for("sendMessage", says("would not take it in time"))
        await tg.idle()
        [job] = await tg.core.store.db.fetchall("SELECT status FROM jobs")
        usage = await tg.core.store.quotas.usage(f"telegram:private:{USER}", f"telegram:{USER}")

    assert refused.status == 429 and "Nothing was charged" in text_of(told)
    assert len(tg.fake.calls("sendPhoto")) == 1  # stopped at the deadline: never tried again after the wait
    assert job["status"] == "failed" and usage.user_used == 0  # refunded, not left "running"


async def test_a_forged_button_in_another_group_acts_on_nothing(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        fake = tg.fake
        fake.push_message(GROUP, f"/imagine@{BOT_NAME} a red fox")
        photo = await fake.wait_for("sendPhoto")
        job_id = buttons(photo)[0].split(":")[2]
        fake.push_message(OTHER_GROUP, f"/help@{BOT_NAME}")
        help_text = await fake.wait_for("sendMessage", lambda call: call.params.get("chat_id") == OTHER_GROUP)
        in_other_group = fake.message(OTHER_GROUP, help_text.result["message_id"])

        for action in (Action.REROLL, Action.VARY, Action.CANCEL):
            fake.push_callback_query(in_other_group, action_id(action, job_id))
        refusals = [
            await fake.wait_for(says("belongs to another chat"), count=count, timeout=10) for count in (1, 2, 3)
        ]
        # Edit is refused at the press, in the button's own answer: no instruction prompt is posted.
        fake.push_callback_query(in_other_group, action_id(Action.EDIT, job_id))
        refusals.append(await fake.wait_for(says("belongs to another chat"), count=4, timeout=10))
        await tg.idle()
        assert not [call for call in fake.calls("sendMessage") if "what should I change" in str(call.params)]
        in_other = await tg.core.store.quotas.usage(f"telegram:guild:{OTHER_GROUP}", f"telegram:{USER}")
        at_home = await tg.core.store.quotas.usage(f"telegram:guild:{GROUP}", f"telegram:{USER}")

    # Reroll and Vary are refused in the other group's chat; Cancel and Edit in the button's own answer.
    assert sorted(call.method for call in refusals) == ["answerCallbackQuery"] * 2 + ["sendMessage"] * 2
    assert all(call.params["chat_id"] == OTHER_GROUP for call in refusals if call.method == "sendMessage")
    assert len(fake_agnes.image_requests()) == 1 and len(fake.calls("sendPhoto")) == 1
    assert (in_other.user_used, at_home.user_used) == (0, 1)
