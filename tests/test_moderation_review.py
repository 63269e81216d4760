"""The review queue (issue 10, item 6): a result asked for in a reviewed channel goes to the
moderators' channel first; Approve posts it where it was asked for, with its buttons; Reject posts
nothing and tells the requester. Each review is decided once, by one press in one process, and a
pending review survives a restart (its images are the job's kept files)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.core import Atelier
from bot.messages import Action, Request, image_ref
from bot.moderation.actions import APPROVAL_NOT_POSTED, NOT_YOURS
from bot.moderation.desk import DeskItem, ModVerb
from bot.moderation.desks import ModeratorDesks
from bot.moderation.gate import WITHHELD
from bot.moderation.review import HELD
from bot.store.moderation import AuditEvent, ReviewStatus
from tests.conftest import make_settings
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.moderation_kit import MODS, SCOPE, RecordingDesk, attach_desk, moderator, press
from tests.recording import RecordingReply, make_request, say
from tests.test_grids import CELL, distinct_images

ORIGIN = json.dumps({"chat": "g1", "message": 7})
PROMPT = "a lighthouse at dusk"


def asker(user: str = "u1") -> Request:
    """Someone asking in the reviewed channel "art"."""
    request = make_request(user)
    request.channel = "art"
    request.origin = ORIGIN
    return request


async def reviewed(core: Atelier) -> RecordingDesk:
    desk = await attach_desk(core)
    await core.store.moderation.set_review(SCOPE, "art", True)
    return desk


async def hold(core: Atelier, desk: RecordingDesk, prompt: str = PROMPT) -> DeskItem:
    reply = RecordingReply()
    await say(core, f"/imagine {prompt}", asker(), reply)
    assert reply.errors == [] and reply.deliveries == []
    assert reply.texts == [HELD]
    return desk.items("review")[-1]


async def events(core: Atelier) -> list[AuditEvent]:
    return [entry.event for entry in reversed(await core.store.moderation.recent(SCOPE, 50))]


async def test_a_result_in_a_reviewed_channel_goes_to_the_moderators_only(core: Atelier, fake_agnes: FakeAgnes) -> None:
    desk = await reviewed(core)

    item = await hold(core, desk)

    assert desk.posted[0][0] == MODS
    assert item.text == f"Review: user u1 asked in channel art for: {PROMPT}"
    assert item.buttons == [ModVerb.APPROVE, ModVerb.REJECT]
    assert [image.data for image in item.images] == [fake_agnes.image]
    review = await core.store.moderation.review(item.item_id)
    assert review is not None and review.status == ReviewStatus.PENDING and review.desk_ref == "desk-1"
    assert desk.delivered == [] and desk.told == []


async def test_approve_posts_the_result_where_it_was_asked_with_its_buttons(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    desk = await reviewed(core)
    item = await hold(core, desk)

    reply = await press(core, ModVerb.APPROVE, item.item_id)

    assert reply.errors == [] and reply.texts == ["Approved: user u1's image is posted where they asked for it."]
    [(origin, delivery)] = desk.delivered
    assert origin == ORIGIN
    assert [image.data for image in delivery.images] == [fake_agnes.image]
    assert delivery.images[0].mime == "image/png" and delivery.images[0].width > 0
    assert delivery.actions == [Action.REROLL, Action.SUBTLE, Action.VARY, Action.EDIT] and not delivery.spoiler
    assert delivery.caption.startswith(PROMPT)
    assert desk.settled == [("desk-1", "✅ Approved by user m1")]
    job = await core.store.jobs.get(delivery.job_id)
    assert job is not None and job.posted_ref == "delivered-1"  # a later Delete removes it
    assert {AuditEvent.HELD, AuditEvent.APPROVED, AuditEvent.MOD_ACTION} <= set(await events(core))
    [action] = [e for e in await core.store.moderation.recent(SCOPE, 50) if e.event == AuditEvent.MOD_ACTION]
    assert action.detail == {"action": "approve", "item": item.item_id} and action.user_name == "user m1"


async def test_the_buttons_under_an_approved_result_work(core: Atelier, fake_agnes: FakeAgnes) -> None:
    desk = await reviewed(core)
    item = await hold(core, desk)
    await press(core, ModVerb.APPROVE, item.item_id)
    job_id = desk.delivered[0][1].job_id

    vary = RecordingReply()
    await core.action(Action.VARY, job_id, make_request(), vary)  # asked outside the reviewed channel

    assert vary.errors == [] and len(vary.deliveries) == 1


async def test_an_approved_grid_is_posted_as_a_grid_and_its_u_buttons_post_the_made_images(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    desk = await reviewed(core)
    fake_agnes.next_images = distinct_images()
    item = await hold(core, desk, f"{PROMPT} --n 4")
    assert len(item.images) == 1  # the moderators see the grid picture
    await press(core, ModVerb.APPROVE, item.item_id)
    [(_, delivery)] = desk.delivered
    assert delivery.picks == 4 and (delivery.images[0].width, delivery.images[0].height) == (CELL[0] * 2, CELL[1] * 2)

    picked = RecordingReply()
    await core.action(Action.PICK, image_ref(delivery.job_id, 3), make_request(), picked)
    kept = await core.runner.result_images(delivery.job_id)
    assert kept is not None and len(kept) == 4
    assert picked.errors == [] and picked.deliveries[0].images[0].data == kept[2] and kept[2] in fake_agnes.sent_images


async def test_reject_tells_the_requester_and_posts_nothing(core: Atelier) -> None:
    desk = await reviewed(core)
    item = await hold(core, desk)

    reply = await press(core, ModVerb.REJECT, item.item_id)

    assert reply.texts == ["Rejected: the requester was told."]
    assert desk.told == [(ORIGIN, f"A moderator did not approve your image ({PROMPT}).")]
    assert desk.delivered == []
    assert desk.settled == [("desk-1", "❌ Rejected by user m1")]
    assert AuditEvent.REJECTED in await events(core)


async def test_a_long_prompt_is_trimmed_when_the_requester_is_told(core: Atelier) -> None:
    desk = await reviewed(core)
    item = await hold(core, desk, "a lighthouse " * 40)

    await press(core, ModVerb.REJECT, item.item_id)

    [(_, text)] = desk.told
    assert len(text) < 260 and text.endswith("…).")


async def test_a_review_is_decided_once(core: Atelier) -> None:
    desk = await reviewed(core)
    item = await hold(core, desk)

    first, second = await asyncio.gather(
        press(core, ModVerb.APPROVE, item.item_id, moderator("m1")),
        press(core, ModVerb.APPROVE, item.item_id, moderator("m2")),
    )
    late_reject = await press(core, ModVerb.REJECT, item.item_id, moderator("m3"))

    assert len(desk.delivered) == 1 and desk.told == []
    winner = "user m1" if first.texts else "user m2"
    assert sorted([*first.errors, *second.errors]) == [f"Already handled by {winner}."]
    assert late_reject.errors == [f"Already handled by {winner}."]
    assert len(desk.settled) == 1


async def test_two_processes_pressing_at_once_post_it_once(core: Atelier) -> None:
    desk = await reviewed(core)
    item = await hold(core, desk)
    other = await Atelier.start(core.settings)  # a second process on the same database file
    other_desk = RecordingDesk()
    other.attach_desk("test", other_desk)
    try:
        here, there = await asyncio.gather(
            press(core, ModVerb.APPROVE, item.item_id, moderator("m1")),
            press(other, ModVerb.REJECT, item.item_id, moderator("m2")),
        )
    finally:
        await other.close()

    acted = len(desk.delivered) + len(other_desk.told)
    assert acted == 1
    assert desk.told == [] and other_desk.delivered == []
    assert len([*here.errors, *there.errors]) == 1 and [*here.errors, *there.errors][0].startswith("Already handled")


async def test_approve_after_a_restart_posts_the_kept_images(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(tmp_path, fake_agnes)
    first = await Atelier.start(settings)
    try:
        item = await hold(first, await reviewed(first))
    finally:
        await first.close()

    restarted = await Atelier.start(settings)
    try:
        desk = RecordingDesk()
        restarted.attach_desk("test", desk)
        reply = await press(restarted, ModVerb.APPROVE, item.item_id)
        pending = await restarted.store.moderation.pending_reviews(SCOPE)
    finally:
        await restarted.close()

    assert reply.errors == []
    [(origin, delivery)] = desk.delivered
    assert origin == ORIGIN and [image.data for image in delivery.images] == [fake_agnes.image]
    assert desk.settled == [("desk-1", "✅ Approved by user m1")]
    assert pending == []


async def test_a_review_whose_images_expired_cannot_be_approved(core: Atelier) -> None:
    desk = await reviewed(core)
    item = await hold(core, desk)
    review = await core.store.moderation.review(item.item_id)
    assert review is not None
    job = await core.store.jobs.get(review.job_id)
    assert job is not None and job.result is not None
    for name in job.result["files"]:
        (core.settings.database_path.parent / "results" / name).unlink()

    reply = await press(core, ModVerb.APPROVE, item.item_id)
    reject = await press(core, ModVerb.REJECT, item.item_id)

    assert reply.errors == ["This image is no longer kept, so it can't be posted. Reject it to tell the requester."]
    assert desk.delivered == []
    assert reject.texts == ["Rejected: the requester was told."] and len(desk.told) == 1


@pytest.mark.parametrize("verb", [ModVerb.APPROVE, ModVerb.REJECT])
async def test_only_this_servers_admins_decide_a_review(core: Atelier, verb: ModVerb) -> None:
    desk = await reviewed(core)
    item = await hold(core, desk)

    member = await press(core, verb, item.item_id, moderator("u2", admin=False))
    elsewhere = await press(core, verb, item.item_id, moderator("m9", guild="g2"))

    assert member.errors == [NOT_YOURS] and elsewhere.errors == [NOT_YOURS]
    assert desk.delivered == [] and desk.told == [] and desk.settled == []
    review = await core.store.moderation.review(item.item_id)
    assert review is not None and review.status == ReviewStatus.PENDING


async def test_a_desk_that_fails_withholds_the_result_and_never_fails_the_job(core: Atelier) -> None:
    desk = await reviewed(core)
    desk.broken = True  # the moderators' channel was deleted
    reply = RecordingReply()

    await say(core, f"/imagine {PROMPT}", asker(), reply)

    assert reply.deliveries == [] and reply.errors == [WITHHELD]
    assert AuditEvent.WITHHELD in await events(core)
    assert await core.store.moderation.pending_reviews(SCOPE) == []  # no review left that nobody can see


async def test_without_a_moderators_channel_a_reviewed_result_is_withheld(core: Atelier) -> None:
    core.attach_desk("test", desk := RecordingDesk())
    await core.store.moderation.set_review(SCOPE, "art", True)
    reply = RecordingReply()

    await say(core, f"/imagine {PROMPT}", asker(), reply)

    assert reply.deliveries == [] and reply.errors == [WITHHELD] and desk.posted == []


async def test_a_desk_that_never_answers_is_given_up_after_its_timeout(core: Atelier) -> None:
    await attach_desk(core)
    clock = FakeClock()
    desks = ModeratorDesks(core.store.settings, core.store.moderation, clock=clock, timeout=30.0)
    desks.attach("test", hanging := RecordingDesk(hang=True))

    posting = asyncio.create_task(desks.post("test", SCOPE, DeskItem("alert", 1, "hi")))
    assert await clock.sleeping() == 30.0
    clock.advance(30.0)

    assert await posting is None and hanging.posted == []


async def test_an_approval_the_platform_refuses_stays_open_to_approve_again(core: Atelier) -> None:
    desk = await reviewed(core)
    item = await hold(core, desk)
    desk.broken = True  # the original channel cannot be reached for now

    reply = await press(core, ModVerb.APPROVE, item.item_id)

    assert reply.errors == [APPROVAL_NOT_POSTED]
    assert desk.delivered == [] and AuditEvent.APPROVED not in await events(core)
    desk.broken = False
    again = await press(core, ModVerb.APPROVE, item.item_id)
    assert again.errors == [] and len(desk.delivered) == 1
    assert AuditEvent.APPROVED in await events(core)
