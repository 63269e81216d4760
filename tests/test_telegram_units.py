"""The Telegram adapter's small pieces: addressing, splitting, photo limits, pacing, albums, status."""

from __future__ import annotations

import asyncio
import datetime as dtm
import itertools
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from adapters.telegram.addressing import Addressed, address
from adapters.telegram.media import fits_as_photo, trim_caption, utf16_len
from adapters.telegram.outbox import Outbox, Target, message_key
from adapters.telegram.pacing import EditPacer, retry_after_seconds, with_retry
from adapters.telegram.reply import TelegramReply
from adapters.telegram.splitting import split_text
from bot.core import Atelier
from bot.messages import Action, Delivery, Progress, ResultImage, action_id
from bot.parsing import CommandLine
from tests.fake_clock import FakeClock
from tests.fakes.images import png_bytes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_harness import (
    FAST,
    GROUP,
    USER,
    buttons,
    fake_telegram_fixture,  # noqa: F401 - pytest fixtures
)


@pytest.mark.parametrize(
    ("text", "private", "to_bot", "expected"),
    [
        ("/imagine a cat", False, False, Addressed("", CommandLine("imagine", None, "a cat"))),
        ("/imagine@AtelierBot a cat", False, False, Addressed("", CommandLine("imagine", "AtelierBot", "a cat"))),
        ("/Imagine@atelierbot", False, False, Addressed("", CommandLine("imagine", "atelierbot", ""))),
        ("/imagine@OtherBot a cat", False, False, None),
        ("/imagine@OtherBot a cat", True, False, None),
        ("/weather", False, False, None),
        ("/weather", True, False, Addressed("", CommandLine("weather", None, ""))),
        ("/weather@AtelierBot", False, False, Addressed("", CommandLine("weather", "AtelierBot", ""))),
        ("hello all", False, False, None),
        ("hello @AtelierBot, how are you?", False, False, Addressed("hello , how are you?")),
        ("@AtelierBot /imagine a fox", False, False, Addressed("", CommandLine("imagine", None, "a fox"))),
        ("@AtelierBotx hi", False, False, None),
        ("and then?", False, True, Addressed("and then?")),
        ("just chatting", True, False, Addressed("just chatting")),
    ],
)
def test_addressing(text: str, private: bool, to_bot: bool, expected: Addressed | None) -> None:
    assert address(text, private=private, bot_username="AtelierBot", replying_to_bot=to_bot) == expected


def test_split_text_prefers_line_breaks_and_counts_utf16() -> None:
    text = ("line of text\n" * 400) + "end"
    pieces = split_text(text)
    assert len(pieces) == 2 and pieces[0].endswith("line of text") and "\n".join(pieces) == text
    emoji = "😀" * 3000  # 2 UTF-16 units each
    pieces = split_text(emoji)
    assert [utf16_len(p) for p in pieces] == [4096, 1904] and "".join(pieces) == emoji
    assert split_text("   ") == [] and split_text("short") == ["short"]


def image(width: int, height: int, size: int = 1000) -> ResultImage:
    return ResultImage(b"x" * size, "image/png", width, height)


def test_photo_or_document() -> None:
    assert fits_as_photo(image(1024, 1024))
    assert not fits_as_photo(image(1024, 1024, 10 * 1024 * 1024 + 1))
    assert not fits_as_photo(image(6000, 5000))  # width + height over 10,000
    assert not fits_as_photo(image(4200, 200))  # ratio over 20
    assert fits_as_photo(image(4000, 200))


def test_captions_are_trimmed_to_1024() -> None:
    assert trim_caption("short") == "short"
    trimmed = trim_caption("word " * 400)
    assert utf16_len(trimmed) <= 1024 and trimmed.endswith("…")


def test_retry_after_in_both_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    assert retry_after_seconds(RetryAfter(dtm.timedelta(seconds=7))) == 7.0
    assert retry_after_seconds(RetryAfter(3)) == 3.0


async def test_pacer_spaces_turns_from_the_end_of_the_previous_call() -> None:
    clock = FakeClock()
    pacer = EditPacer(0.25, clock)
    starts: list[float] = []

    async def edit() -> None:
        async with pacer.turn():
            starts.append(clock.now())
            await clock.sleep(0.125)  # the call itself takes a while

    async with clock.autojump():
        await asyncio.gather(*(edit() for _ in range(4)))
    assert [b - a for a, b in itertools.pairwise(starts)] == [0.375] * 3
    pacer.hold(2.0)  # flood control: the next turn waits that long, not the pace
    async with clock.autojump():
        await edit()
    assert starts[-1] - starts[-2] == 0.125 + 2.0


PACE = 0.25  # the status message's edit interval in these tests (exact in binary, as are the clock's steps)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def outbox(core: Atelier, fake_telegram: FakeTelegram, clock: FakeClock) -> AsyncIterator[Outbox]:
    fake_telegram.add_chat(USER)
    fake_telegram.add_chat(GROUP)
    # The chat's lane paces every call at PACE / 2: the status message's own pace is what shows.
    lanes = {"telegram_stream_edit_seconds_group": PACE / 2, "telegram_stream_edit_seconds_private": PACE / 2}
    settings = core.settings.model_copy(update=FAST | lanes | {"telegram_progress_edit_seconds": PACE})
    async with Bot(fake_telegram.token, base_url=fake_telegram.base_url) as bot:
        yield Outbox(bot, core.store.conversations, settings, clock=clock)


async def test_several_images_go_as_an_album_with_buttons_on_a_follow_up(
    outbox: Outbox, fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    reply = TelegramReply(outbox, Target(USER, None, None, group=False), "telegram:1001")
    images = [ResultImage(png_bytes(40, 30, (i * 60, 0, 0)), "image/png", 40, 30) for i in range(3)]
    async with clock.autojump():  # the follow-up waits for the chat's pace
        await reply.send_images(Delivery("job1", images, "three foxes", [Action.REROLL, Action.VARY]))

    album = fake_telegram.calls("sendMediaGroup")[0]
    assert [m["type"] for m in album.params["media"]] == ["photo"] * 3
    assert album.params["media"][0]["caption"] == "three foxes"
    follow_up = fake_telegram.calls("sendMessage")[0]
    assert buttons(follow_up) == [action_id(Action.REROLL, "job1"), action_id(Action.VARY, "job1")]
    for message in fake_telegram.sent_messages(USER):
        linked = await outbox.links.linked(message_key(USER, message["message_id"]))
        assert linked == ("telegram:1001", "job1")


async def test_status_message_is_edited_at_its_pace_and_removed(
    outbox: Outbox, fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    reply = TelegramReply(outbox, Target(GROUP, None, None, group=True), "c")
    reports = iter(Progress("job9", tick, percent=tick) for tick in range(100))
    await reply.progress(next(reports))
    status = await fake_telegram.wait_for("sendMessage")  # at once: no delay in these settings
    assert await clock.sleeping() == PACE  # and then it waits for its pace
    for _ in range(8):  # four reports in every eighth of a second, each with new text, for one second
        for _ in range(4):
            latest = next(reports)
            await reply.progress(latest)
        if clock.advance(PACE / 2):
            await clock.sleeping()  # it woke, showed the latest report, and waits again
    await reply.clear_progress()
    async with clock.autojump():  # the removal takes its turn in the chat's lane
        deleted = await fake_telegram.wait_for("deleteMessage")

    edits = fake_telegram.calls("editMessageText")
    shown_at = [clock.at(call.ts) for call in [status, *edits]]
    assert [b - a for a, b in itertools.pairwise(shown_at)] == [PACE] * 4  # one edit per pace, no more
    assert edits[-1].params["text"] == latest.describe()
    assert buttons(status) == [action_id(Action.CANCEL, "job9")]
    assert deleted.params["message_id"] == status.result["message_id"]
    assert [c.params["action"] for c in fake_telegram.calls("sendChatAction")] == ["upload_photo"]


async def test_flood_control_is_waited_out_on_the_clock_and_holds_the_chat(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    pacer = EditPacer(PACE, clock)
    attempts: list[float] = []
    turns: list[float] = []

    async def flooded() -> str:
        attempts.append(clock.now())
        if len(attempts) == 1:
            raise RetryAfter(dtm.timedelta(seconds=3))
        return "sent"

    async def another_edit_in_the_chat() -> None:
        async with pacer.turn():
            turns.append(clock.now())

    retrying = asyncio.create_task(with_retry(flooded, "editMessageText", clock=clock, pacer=pacer))
    assert await clock.sleeping() == 3.0 and len(attempts) == 1
    other = asyncio.create_task(another_edit_in_the_chat())
    await clock.sleeping(count=2)
    assert clock.pending() == [3.0, 3.0]  # the other edit waits for the flood wait, not for the pace
    assert clock.advance(2.5) == 0  # not a moment early
    assert clock.advance(0.5) == 2
    assert await retrying == "sent"
    await other
    assert attempts[1] - attempts[0] == 3.0 and turns == [attempts[1]]
