"""Moderation of chat and /ask (issue 10, items 2, 3 and 7): what users send is checked before the rate
limit and any provider call; answers are checked when finished and a flagged one is replaced (or, at
strictness high, never shown), and never kept in the conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core import Atelier
from bot.moderation.desk import ModVerb
from bot.moderation.gate import ANSWER_HIDDEN, ANSWER_UNCHECKED, BLOCKED, UNAVAILABLE
from bot.moderation.policy import STRICTNESS, Use
from bot.store.moderation import AuditEvent, Ban, ChannelMode
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.fakes.moderation_server import FakeModeration
from tests.moderation_kit import (  # noqa: F401 - pytest fixtures
    SCOPE,
    attach_desk,
    audit,
    fake_moderation_fixture,
    moderated_fixture,
    send,
    started,
)

FLAGGED_ANSWER = "Here are the gory details you asked for, step by step."


@pytest.fixture
async def listed(tmp_path: Path, fake_agnes: FakeAgnes) -> AsyncIterator[Atelier]:
    async with started(tmp_path, fake_agnes, moderation_blocklist="badword") as core:
        yield core


async def history_roles(core: Atelier) -> list[str]:
    return [message.role for message in await core.store.conversations.history(f"{SCOPE}:main")]


# ------------------------------------------------------------------------ what users send


async def test_a_chat_message_with_a_blocked_term_is_refused_before_any_call(
    listed: Atelier, fake_agnes: FakeAgnes
) -> None:
    reply = await send(listed, "tell me a story about a b-a-d-w-o-r-d")
    assert reply.errors == [BLOCKED[Use.CHAT]] and "charged" not in reply.errors[0]
    assert reply.streamed == []
    assert fake_agnes.chat_requests() == []
    assert await history_roles(listed) == []
    [entry] = await audit(listed)
    assert entry.event == AuditEvent.REFUSED and entry.detail["use"] == "chat"


async def test_a_chat_rate_refusal_the_user_is_told_is_audited(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    async with started(tmp_path, fake_agnes, rate_limit_chat_per_user_per_minute=1) as core:
        assert (await send(core, "hello")).errors == []
        told = await send(core, "hello again")
        dropped = await send(core, "and again")  # the same minute: dropped without a word
        assert len(told.errors) == 1 and dropped.errors == [] and dropped.streamed == []
        assert [(e.event, e.detail.get("rule")) for e in await audit(core)] == [(AuditEvent.REFUSED, "rate")]
        assert len(fake_agnes.chat_requests()) == 1


async def test_an_ask_question_with_a_blocked_term_is_refused(listed: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = await send(listed, "/ask is this a BADWORD?", images=[png_bytes()])
    assert reply.errors == [BLOCKED[Use.CHAT]]
    assert fake_agnes.chat_requests() == []


async def test_without_a_model_answers_are_not_checked(listed: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_reply = "The word you mean is badword."
    reply = await send(listed, "what word do I mean?")
    assert reply.shown_answer == fake_agnes.chat_reply and reply.replaced == []


async def test_an_image_the_model_flags_in_ask_is_refused(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    blue = (0, 0, 255)
    fake_moderation.flag_images(colour=blue, sexual=0.92)
    reply = await send(moderated, "/ask what is this?", images=[png_bytes(color=blue)])
    assert len(reply.errors) == 1 and "sexual" in reply.errors[0]
    assert fake_agnes.chat_requests() == []


async def test_a_banned_user_and_an_images_only_channel_are_refused_chat(core: Atelier, fake_agnes: FakeAgnes) -> None:
    await core.store.moderation.ban(SCOPE, Ban("test:u1", "user u1", None, "", "mod"))
    await core.store.moderation.set_channel(SCOPE, "gallery", ChannelMode.IMAGES)

    banned = await send(core, "hello")
    gallery = await send(core, "hello", user="u2", channel="gallery")
    fine = await send(core, "hello", user="u2", channel="lounge")

    assert banned.errors == ["You can't use Atelier here: a moderator banned you until a moderator lifts the ban."]
    assert len(gallery.errors) == 1 and "images" in gallery.errors[0].lower()
    assert fine.errors == [] and fine.shown_answer == fake_agnes.chat_reply
    assert len(fake_agnes.chat_requests()) == 1


async def test_moderation_down_refuses_chat_with_no_model_call(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_moderation.fail(status=503, times=10)
    reply = await send(moderated, "hello there")
    assert reply.errors == [UNAVAILABLE[Use.CHAT]]
    assert fake_agnes.chat_requests() == []


# --------------------------------------------------------------------------------- answers


async def test_a_flagged_answer_is_replaced_alerted_and_not_kept(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_agnes.chat_reply = FLAGGED_ANSWER
    fake_moderation.flag_text("gory details", violence=0.9)
    desk = await attach_desk(moderated)

    reply = await send(moderated, "describe the battle")

    assert "".join(reply.streamed[0]) == FLAGGED_ANSWER  # streamed as usual, then replaced
    assert reply.replaced == [ANSWER_HIDDEN] and reply.shown_answer == ANSWER_HIDDEN
    assert await history_roles(moderated) == []
    [entry] = await audit(moderated)
    assert entry.event == AuditEvent.ANSWER_REPLACED and entry.detail["categories"] == {"violence": 0.9}
    [(_, item)] = desk.posted
    assert item.item_id == entry.id and item.buttons == [ModVerb.BAN, ModVerb.DISMISS]

    fake_agnes.chat_reply = "A calm answer."
    await send(moderated, "and now?")
    asked = fake_agnes.chat_requests()[-1].body["messages"]
    assert [m["role"] for m in asked] == ["system", "user"]  # the flagged exchange is not sent again
    assert await history_roles(moderated) == ["user", "assistant"]


async def test_strictness_high_holds_the_answer_until_it_is_checked(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    await moderated.store.settings.set(SCOPE, STRICTNESS, "high")
    fake_moderation.flag_text("gory details", violence=0.4)  # over high's threshold only

    clean = await send(moderated, "say something calm")
    fake_agnes.chat_reply = FLAGGED_ANSWER
    flagged = await send(moderated, "describe the battle")

    assert clean.streamed == [[fake_agnes_reply_default()]]  # shown whole, once checked
    assert flagged.streamed == [] and flagged.replaced == []  # nothing of it was ever shown
    assert flagged.texts == [ANSWER_HIDDEN]
    assert await history_roles(moderated) == ["user", "assistant"]


async def test_an_answer_that_cannot_be_checked_is_replaced_when_failing_closed(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_agnes.on_request = lambda _: fake_moderation.fail(status=500, times=10)
    reply = await send(moderated, "hello there")
    assert reply.replaced == [ANSWER_UNCHECKED]
    assert await history_roles(moderated) == []


def fake_agnes_reply_default() -> str:
    return FakeAgnes().chat_reply
