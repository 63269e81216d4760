"""The buttons in the moderators' channel (issue 10, item 5): Delete removes a posted result, Ban user
bans the requester in this server/group (the policy then refuses them), Dismiss closes the alert.
Every press is checked again in the core (only this scope's admins, each item once) and audited; a
desk that fails is reported to the moderator, never raised."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core import Atelier
from bot.moderation.actions import BAN_REASON, NOT_POSTED, NOT_YOURS
from bot.moderation.desk import DeskItem, ModVerb
from bot.moderation.gate import BLOCKED
from bot.moderation.policy import LOGCHANNEL, OUTPUT, Use
from bot.store.moderation import AuditEvent
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.fakes.moderation_server import FakeModeration
from tests.moderation_kit import (  # noqa: F401 - a pytest fixture
    MODS,
    SCOPE,
    ModReply,
    RecordingDesk,
    attach_desk,
    fake_moderation_fixture,
    moderator,
    press,
    started,
    with_model,
)
from tests.recording import RecordingReply, make_request, say

RED = (255, 0, 0)


@pytest.fixture
async def moderated(tmp_path: Path, fake_agnes: FakeAgnes, fake_moderation: FakeModeration) -> AsyncIterator[Atelier]:
    """A server with a blocked word and a moderation model; flagged results are shown behind a spoiler."""
    overrides = with_model(fake_moderation, moderation_blocklist="dragon", moderation_timeout_seconds=2.0)
    async with started(tmp_path, fake_agnes, **overrides) as core:
        yield core


async def refused_prompt(core: Atelier, desk: RecordingDesk) -> DeskItem:
    """u1 asks for a blocked word: refused, and the moderators get an alert with Ban and Dismiss."""
    reply = RecordingReply()
    await say(core, "/imagine a dragon", make_request(), reply)
    assert reply.errors == [BLOCKED[Use.IMAGES]]
    [item] = desk.items("alert")
    assert item.buttons == [ModVerb.BAN, ModVerb.DISMISS]
    return item


async def spoilered_result(core: Atelier, desk: RecordingDesk, agnes: FakeAgnes, model: FakeModeration) -> DeskItem:
    """u1's result is flagged and posted behind a spoiler: the alert offers Delete."""
    await core.store.settings.set(SCOPE, OUTPUT, "spoiler")
    agnes.image = png_bytes(color=RED)
    model.flag_images(colour=RED, violence=0.95)
    reply = ModReply()
    await say(core, "/imagine a red square", make_request(), reply)
    assert reply.errors == [] and len(reply.deliveries) == 1 and reply.deliveries[0].spoiler
    [item] = desk.items("alert")
    assert item.buttons == [ModVerb.DELETE, ModVerb.BAN, ModVerb.DISMISS]
    return item


async def mod_actions(core: Atelier) -> list[dict]:
    entries = await core.store.moderation.recent(SCOPE, 50)
    return [entry.detail for entry in reversed(entries) if entry.event == AuditEvent.MOD_ACTION]


async def test_ban_user_bans_the_requester_here_until_lifted(moderated: Atelier, fake_agnes: FakeAgnes) -> None:
    desk = await attach_desk(moderated)
    item = await refused_prompt(moderated, desk)

    reply = await press(moderated, ModVerb.BAN, item.item_id)

    assert reply.texts == ["user u1 is banned here until a moderator lifts it (/mod unban)."]
    ban = (await moderated.store.moderation.policy(SCOPE)).bans["test:u1"]
    assert (ban.until, ban.reason, ban.by, ban.user_name) == (None, BAN_REASON, "user m1", "user u1")
    assert desk.settled == [("desk-1", "🔨 Banned by user m1")]
    assert await mod_actions(moderated) == [{"action": "ban", "item": item.item_id}]
    later = RecordingReply()
    await say(moderated, "/imagine a cat", make_request(), later)
    assert later.deliveries == [] and "banned" in later.errors[0]
    assert fake_agnes.image_requests() == []


async def test_dismiss_closes_the_alert_once(moderated: Atelier) -> None:
    desk = await attach_desk(moderated)
    item = await refused_prompt(moderated, desk)

    dismiss = await press(moderated, ModVerb.DISMISS, item.item_id)
    ban_after = await press(moderated, ModVerb.BAN, item.item_id, moderator("m2"))

    assert dismiss.texts == ["Dismissed."]
    assert ban_after.errors == ["Already handled by user m1."]
    assert desk.settled == [("desk-1", "👌 Dismissed by user m1")]
    assert (await moderated.store.moderation.policy(SCOPE)).bans == {}
    entry = await moderated.store.moderation.entry(item.item_id)
    assert entry is not None and entry.closed_by == "user m1"


async def test_delete_removes_the_posted_result(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    desk = await attach_desk(moderated)
    item = await spoilered_result(moderated, desk, fake_agnes, fake_moderation)

    reply = await press(moderated, ModVerb.DELETE, item.item_id)
    again = await press(moderated, ModVerb.DELETE, item.item_id, moderator("m2"))

    assert reply.texts == ["Deleted."]
    assert desk.deleted == ['{"message": "posted-1"}']  # the ref the adapter returned when posting it
    assert again.errors == ["Already handled by user m1."]
    assert desk.settled == [("desk-1", "🗑 Deleted by user m1")]
    assert await mod_actions(moderated) == [{"action": "delete", "item": item.item_id}]


async def test_delete_that_the_platform_refuses_leaves_the_alert_open(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    desk = await attach_desk(moderated)
    item = await spoilered_result(moderated, desk, fake_agnes, fake_moderation)
    desk.broken = True

    failed = await press(moderated, ModVerb.DELETE, item.item_id)
    desk.broken = False
    retried = await press(moderated, ModVerb.DELETE, item.item_id)

    assert failed.errors == ["I could not delete that message; please try again in a minute."]
    assert retried.texts == ["Deleted."] and desk.deleted == ['{"message": "posted-1"}']


async def test_delete_of_something_never_posted_says_so(moderated: Atelier) -> None:
    desk = await attach_desk(moderated)
    item = await refused_prompt(moderated, desk)

    reply = await press(moderated, ModVerb.DELETE, item.item_id)

    assert reply.errors == [NOT_POSTED] and desk.deleted == []


async def test_only_this_servers_admins_press_any_button(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    desk = await attach_desk(moderated)
    await moderated.store.moderation.set_review(SCOPE, "art", True)
    alert = await spoilered_result(moderated, desk, fake_agnes, fake_moderation)
    held = make_request()
    held.channel, held.origin = "art", "{}"
    fake_agnes.image = png_bytes()  # not flagged: this result is queued for review
    await say(moderated, "/imagine a calm sea", held, RecordingReply())
    [review] = desk.items("review")
    targets = {ModVerb.APPROVE: review, ModVerb.REJECT: review}

    for verb in ModVerb:
        item_id = targets.get(verb, alert).item_id
        member = await press(moderated, verb, item_id, moderator("u2", admin=False))
        elsewhere = await press(moderated, verb, item_id, moderator("m9", guild="g2"))
        assert member.errors == [NOT_YOURS] and elsewhere.errors == [NOT_YOURS], verb

    assert (desk.delivered, desk.told, desk.deleted, desk.settled) == ([], [], [], [])
    assert (await moderated.store.moderation.policy(SCOPE)).bans == {}
    assert await mod_actions(moderated) == []


async def test_a_broken_desk_never_fails_the_refusal_it_reports(moderated: Atelier, fake_agnes: FakeAgnes) -> None:
    desk = await attach_desk(moderated)
    desk.broken = True
    reply = RecordingReply()

    await say(moderated, "/imagine a dragon", make_request(), reply)
    fine = RecordingReply()
    await say(moderated, "/imagine a cat", make_request(), fine)

    assert reply.errors == [BLOCKED[Use.IMAGES]]
    assert fine.errors == [] and len(fine.deliveries) == 1


async def test_a_desk_that_fails_to_settle_still_does_the_action(moderated: Atelier) -> None:
    desk = await attach_desk(moderated)
    item = await refused_prompt(moderated, desk)
    desk.broken = True

    reply = await press(moderated, ModVerb.BAN, item.item_id)

    assert reply.texts == ["user u1 is banned here until a moderator lifts it (/mod unban)."]
    assert "test:u1" in (await moderated.store.moderation.policy(SCOPE)).bans


async def test_a_platform_without_a_desk_is_told_plainly(moderated: Atelier) -> None:
    await moderated.store.settings.set(SCOPE, LOGCHANNEL, MODS)  # set, but the platform is not connected
    await say(moderated, "/imagine a dragon", make_request(), RecordingReply())
    [entry] = [e for e in await moderated.store.moderation.recent(SCOPE, 10) if e.event == AuditEvent.REFUSED]

    reply = await press(moderated, ModVerb.DISMISS, entry.id)

    assert reply.errors == ["I can't reach this chat's platform right now; please try again in a minute."]
    assert (await moderated.store.moderation.entry(entry.id)).closed_by is None  # type: ignore[union-attr]
