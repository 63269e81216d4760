"""Moderation in the one job path (issue 10, items 1-5): access, blocklists and the moderation model
before anything is charged or sent upstream, result checks before anything is posted, the audit log
and the moderators' channel. The real core against the fake Agnes and the fake moderation server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core import Atelier
from bot.messages import Action
from bot.moderation.desk import DeskItem, ModVerb
from bot.moderation.gate import BLOCKED, RESULT_UNCHECKED, UNAVAILABLE, WITHHELD
from bot.moderation.policy import LOGCHANNEL, NSFW, OUTPUT, Use
from bot.store.jobs import JobStatus
from bot.store.moderation import AuditEvent, Ban, ChannelMode
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.fakes.moderation_server import FakeModeration
from tests.moderation_kit import (  # noqa: F401 - pytest fixtures
    MODS,
    SCOPE,
    ModReply,
    RecordingDesk,
    attach_desk,
    audit,
    fake_moderation_fixture,
    moderated_fixture,
    request_in,
    send,
    started,
    used,
    with_model,
)
from tests.recording import say

RED = (255, 0, 0)  # the colour the fake moderation server flags in images, where a test says so
BLUE = (0, 0, 255)


@pytest.fixture
async def listed(tmp_path: Path, fake_agnes: FakeAgnes) -> AsyncIterator[Atelier]:
    """An operator blocklist, no moderation model."""
    async with started(tmp_path, fake_agnes, moderation_blocklist="badword, re:forbid+en") as core:
        yield core


# ------------------------------------------------------------------------------ blocklists


@pytest.mark.parametrize(
    "prompt",
    [
        "a BadWord on a wall",
        "a b a d w o r d on a wall",
        "a b.a.d-w_o_r_d on a wall",
        "a bad\u200bword on a wall",  # zero-width space
        "a ｂａｄｗｏｒｄ on a wall",  # full-width
        "a b\u0430dword on a wall",  # a Cyrillic a
        "a b4dw0rd on a wall",  # leetspeak
        "a forbiddddden cake",  # the operator's `re:` term
    ],
)
async def test_each_evasion_of_a_blocked_term_is_refused_with_no_call_and_no_charge(
    listed: Atelier, fake_agnes: FakeAgnes, prompt: str
) -> None:
    reply = await send(listed, f"/imagine {prompt}")

    assert reply.errors == [BLOCKED[Use.IMAGES]]
    assert "badword" not in reply.errors[0].lower() and "forbid" not in reply.errors[0]
    assert reply.deliveries == []
    assert fake_agnes.image_requests() == []
    assert await used(listed) == (0, 0)
    [entry] = await audit(listed)
    assert entry.event == AuditEvent.REFUSED and entry.user_key == "test:u1"
    assert entry.detail["rule"] == "blocklist"  # the operator's terms are not named to a server's moderators
    assert entry.detail["text"] == prompt


async def test_a_clean_prompt_runs_and_its_delivery_is_audited_with_the_posted_message(
    listed: Atelier, fake_agnes: FakeAgnes
) -> None:
    reply = await send(listed, "/imagine a notabadwordsmith at work")  # the term inside another word

    assert reply.errors == []
    [delivery] = reply.deliveries
    assert delivery.spoiler is False
    record = await listed.store.jobs.get(delivery.job_id)
    assert record is not None and record.posted_ref == '{"message": "posted-1"}'
    [entry] = await audit(listed)
    assert entry.event == AuditEvent.GENERATED and entry.job_id == delivery.job_id


async def test_a_blocked_term_in_the_negative_prompt_is_refused(listed: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = await send(listed, "/imagine a quiet lake --no b a d w o r d")
    assert reply.errors == [BLOCKED[Use.IMAGES]]
    assert fake_agnes.image_requests() == []


async def test_the_scopes_own_term_is_refused_there_and_shown_to_its_moderators(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    await core.store.moderation.add_term(SCOPE, "dragon")
    desk = await attach_desk(core)

    refused = await send(core, "/imagine a red Dr4gon", channel="c7")
    elsewhere = await send(core, "/imagine a red dragon", guild="g2")

    assert refused.errors == [BLOCKED[Use.IMAGES]] and "dragon" not in refused.errors[0].lower()
    assert elsewhere.errors == [] and len(elsewhere.deliveries) == 1
    assert len(fake_agnes.image_requests()) == 1  # only the other server's
    [entry] = await audit(core)
    assert entry.detail["rule"] == "blocklist:dragon" and entry.detail["channel"] == "c7"
    [(place, item)] = desk.posted
    assert place == MODS
    assert item.kind == "alert" and item.item_id == entry.id
    assert item.buttons == [ModVerb.BAN, ModVerb.DISMISS]
    assert "user u1" in item.text and "a red Dr4gon" in item.text and "dragon" in item.text
    stored = await core.store.moderation.entry(entry.id)
    assert stored is not None and stored.desk_ref == "desk-1"


async def test_a_flood_of_blocked_prompts_is_slowed_by_the_rate_limit_and_cannot_flood_moderators(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    settings = with_model(fake_moderation, moderation_blocklist="badword", rate_limit_per_user_per_minute=2)
    async with started(tmp_path, fake_agnes, **settings) as core:
        desk = await attach_desk(core)
        replies = [await send(core, f"/imagine badword number {n}") for n in range(6)]
        assert [reply.errors[0] for reply in replies[:2]] == [BLOCKED[Use.IMAGES]] * 2
        assert "Slow down" in replies[2].errors[0]
        assert all(reply.errors == [] and reply.deliveries == [] for reply in replies[3:])  # dropped quietly
        assert len(desk.items("alert")) == 2  # one per refusal the rate limit let through, no more
        assert fake_moderation.moderation_requests() == [] and fake_agnes.image_requests() == []


async def test_an_edit_instruction_with_a_blocked_term_is_refused(listed: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = await send(listed, "/edit give him a BADWORD shirt", images=[png_bytes()])
    assert reply.errors == [BLOCKED[Use.IMAGES]]
    assert fake_agnes.image_requests() == []
    assert await used(listed) == (0, 0)


async def test_buttons_of_an_earlier_result_meet_the_terms_blocked_since(core: Atelier, fake_agnes: FakeAgnes) -> None:
    first = await send(core, "/imagine a dragon over hills --seed 4")
    job_id = first.deliveries[0].job_id
    await core.store.moderation.add_term(SCOPE, "dragon")

    for action in (Action.REROLL, Action.VARY):
        reply = ModReply()
        await core.action(action, job_id, request_in(), reply)
        assert reply.errors == [BLOCKED[Use.IMAGES]], action
        assert reply.deliveries == []
    edit = ModReply()
    await core.action(Action.EDIT, job_id, request_in(), edit, instruction="add a second DRAGON")
    assert edit.errors == [BLOCKED[Use.IMAGES]]
    assert len(fake_agnes.image_requests()) == 1
    assert await used(core) == (1, 1)


# ---------------------------------------------------------------------------------- access


async def test_a_banned_user_is_refused_before_anything_runs(core: Atelier, fake_agnes: FakeAgnes) -> None:
    await core.store.moderation.ban(SCOPE, Ban("test:u1", "user u1", None, "spam", "mod"))

    banned = await send(core, "/imagine a cat")
    other = await send(core, "/imagine a cat", user="u2")

    assert banned.errors == [
        "You can't use Atelier here: a moderator banned you until a moderator lifts the ban (spam)."
    ]
    assert other.errors == [] and len(other.deliveries) == 1
    assert len(fake_agnes.image_requests()) == 1
    assert await used(core) == (0, 1)
    refusal = (await audit(core))[0]
    assert refusal.event == AuditEvent.REFUSED and refusal.detail["rule"] == "access"


async def test_a_chat_only_channel_refuses_imagine(core: Atelier, fake_agnes: FakeAgnes) -> None:
    await core.store.moderation.set_channel(SCOPE, "talk", ChannelMode.CHAT)

    refused = await send(core, "/imagine a cat", channel="talk")
    allowed = await send(core, "/imagine a cat", channel="art")

    assert len(refused.errors) == 1 and "chat" in refused.errors[0].lower()
    assert refused.deliveries == [] and len(allowed.deliveries) == 1
    assert len(fake_agnes.image_requests()) == 1


async def test_a_rate_refusal_the_user_is_told_is_audited(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    async with started(tmp_path, fake_agnes, rate_limit_per_user_per_minute=1) as core:
        await send(core, "/imagine one")
        told = await send(core, "/imagine two")
        dropped = await send(core, "/imagine three")  # the same minute: dropped without a word
        assert told.errors and dropped.everything == "" and dropped.deliveries == []
        rules = [(e.event, e.detail.get("rule")) for e in await audit(core)]
        assert rules == [(AuditEvent.GENERATED, None), (AuditEvent.REFUSED, "rate")]


async def test_quota_refusals_are_audited(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    async with started(tmp_path, fake_agnes, rate_limit_per_user_per_minute=0, quota_images_per_user_per_day=1) as core:
        await send(core, "/imagine one")
        spent = await send(core, "/imagine two")
        await core.store.settings.set(SCOPE, "user_quota", "0")
        off = await send(core, "/imagine three")
        assert len(spent.errors) == 1 and len(off.errors) == 1
        rules = [(e.event, e.detail.get("rule")) for e in await audit(core)]
        assert rules == [(AuditEvent.GENERATED, None), (AuditEvent.REFUSED, "quota"), (AuditEvent.REFUSED, "quota")]
        assert len(fake_agnes.image_requests()) == 1


# ------------------------------------------------------------------------------ the model


async def test_a_prompt_the_model_flags_is_refused_and_not_charged(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_moderation.flag_text("gory battlefield", violence=0.95)
    desk = await attach_desk(moderated)

    reply = await send(moderated, "/imagine a gory battlefield at noon")

    assert len(reply.errors) == 1 and "violence" in reply.errors[0] and "Nothing was charged" in reply.errors[0]
    assert fake_agnes.image_requests() == []
    assert await used(moderated) == (0, 0)
    [entry] = await audit(moderated)
    assert entry.event == AuditEvent.REFUSED and entry.detail["rule"] == "model"
    assert entry.detail["categories"] == {"violence": 0.95}
    [(_, item)] = desk.posted
    assert item.item_id == entry.id and "violence 0.95" in item.text


async def test_a_flagged_input_image_is_refused(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_moderation.flag_images(colour=BLUE, sexual=0.9)
    reply = await send(moderated, "/edit make it snowy", images=[png_bytes(color=BLUE)])
    assert len(reply.errors) == 1 and "sexual" in reply.errors[0]
    assert fake_agnes.image_requests() == []
    assert await used(moderated) == (0, 0)


async def test_a_flagged_result_is_withheld_charged_and_shown_to_moderators(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_agnes.image = png_bytes(color=RED)
    fake_moderation.flag_images(colour=RED, violence=0.97)
    desk = await attach_desk(moderated)

    reply = await send(moderated, "/imagine a quiet meadow")

    assert reply.deliveries == []
    assert reply.errors == [WITHHELD]
    assert await used(moderated) == (1, 1)  # the provider was paid
    [entry] = await audit(moderated)
    assert entry.event == AuditEvent.WITHHELD and entry.detail["categories"] == {"violence": 0.97}
    record = await moderated.store.jobs.get(entry.job_id or "")
    assert record is not None and record.status == JobStatus.DONE and record.result and record.result["files"]
    [(_, item)] = desk.posted
    assert item.buttons == [ModVerb.BAN, ModVerb.DISMISS]
    assert [image.data for image in item.images] == [fake_agnes.image]


async def test_spoiler_mode_posts_a_flagged_result_behind_a_spoiler(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_agnes.image = png_bytes(color=RED)
    fake_moderation.flag_images(colour=RED, violence=0.97)
    await moderated.store.settings.set(SCOPE, OUTPUT, "spoiler")
    desk = await attach_desk(moderated)

    reply = await send(moderated, "/imagine a quiet meadow")

    [delivery] = reply.deliveries
    assert delivery.spoiler is True and reply.errors == []
    events = [entry.event for entry in await audit(moderated)]
    assert events == [AuditEvent.SPOILERED, AuditEvent.GENERATED]
    [(_, item)] = desk.posted
    assert item.buttons == [ModVerb.DELETE, ModVerb.BAN, ModVerb.DISMISS]


async def test_an_age_restricted_channel_with_nsfw_on_allows_the_sexual_category_only_there(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_agnes.image = png_bytes(color=RED)
    fake_moderation.flag_images(colour=RED, sexual=0.9)
    fake_moderation.flag_text("nude figure", sexual=0.8)
    await moderated.store.settings.set(SCOPE, NSFW, "on")
    adult = request_in("nsfw-channel")
    adult.age_restricted = True

    allowed = ModReply()
    await say(moderated, "/imagine a nude figure study", adult, allowed)
    prompt_elsewhere = await send(moderated, "/imagine a nude figure study", channel="general")
    result_elsewhere = await send(moderated, "/imagine a figure study", channel="general")
    await moderated.store.settings.set(SCOPE, NSFW, "off")
    turned_off = ModReply()
    await say(moderated, "/imagine a figure study", adult, turned_off)

    assert allowed.errors == [] and len(allowed.deliveries) == 1 and allowed.deliveries[0].spoiler is False
    assert prompt_elsewhere.deliveries == [] and "sexual" in prompt_elsewhere.errors[0]
    assert result_elsewhere.deliveries == [] and result_elsewhere.errors == [WITHHELD]
    assert turned_off.deliveries == [] and turned_off.errors == [WITHHELD]
    assert len(fake_agnes.image_requests()) == 3  # the refused prompt never reached the provider


async def test_moderation_down_fails_closed_with_no_provider_call_and_no_charge(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_moderation.fail(status=500, times=10)
    reply = await send(moderated, "/imagine a lighthouse")
    assert reply.errors == [UNAVAILABLE[Use.IMAGES]]
    assert fake_agnes.image_requests() == []
    assert await used(moderated) == (0, 0)
    [entry] = await audit(moderated)
    assert entry.event == AuditEvent.REFUSED and entry.detail["rule"] == "unavailable"


async def test_moderation_down_failing_open_proceeds_and_is_audited_unchecked(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    overrides = with_model(fake_moderation, moderation_timeout_seconds=1.0, moderation_on_failure="open")
    async with started(tmp_path, fake_agnes, **overrides) as core:
        fake_moderation.fail(status=500, times=10)
        reply = await send(core, "/imagine a lighthouse")
        assert reply.errors == [] and len(reply.deliveries) == 1
        events = [entry.event for entry in await audit(core)]
        assert events == [AuditEvent.UNCHECKED, AuditEvent.UNCHECKED, AuditEvent.GENERATED]  # prompt, result


async def test_a_result_that_cannot_be_checked_is_withheld_and_refunded(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    # The prompt is checked before the provider is called; the service fails once the provider is at work.
    fake_agnes.on_request = lambda _: fake_moderation.fail(status=500, times=10)
    reply = await send(moderated, "/imagine a lighthouse")

    assert len(fake_agnes.image_requests()) == 1
    assert reply.deliveries == [] and reply.errors == [RESULT_UNCHECKED]
    assert await used(moderated) == (0, 0)
    [entry] = await audit(moderated)
    assert entry.event == AuditEvent.WITHHELD and entry.detail["rule"] == "unavailable"
    record = await moderated.store.jobs.get(entry.job_id or "")
    assert record is not None and record.status == JobStatus.FAILED


# ---------------------------------------------------------------------------- review queue


async def test_a_reviewed_channel_sends_results_to_the_moderators_first(
    moderated: Atelier, fake_agnes: FakeAgnes
) -> None:
    await moderated.store.moderation.set_review(SCOPE, "art", True)
    desk = await attach_desk(moderated)

    reply = await send(moderated, "/imagine a castle", channel="art")

    assert reply.deliveries == [] and reply.errors == []
    assert len(reply.texts) == 1 and "approval" in reply.texts[0]
    [(_, item)] = desk.posted
    assert item.kind == "review" and item.buttons == [ModVerb.APPROVE, ModVerb.REJECT]
    assert await used(moderated) == (1, 1)
    held = (await audit(moderated))[-1]
    assert held.event == AuditEvent.HELD
    record = await moderated.store.jobs.get(held.job_id or "")
    assert record is not None and record.status == JobStatus.DONE and record.result and record.result["files"]


async def test_a_reviewed_channel_without_a_moderators_channel_withholds(core: Atelier, fake_agnes: FakeAgnes) -> None:
    await core.store.moderation.set_review(SCOPE, "art", True)
    reply = await send(core, "/imagine a castle", channel="art")
    assert reply.deliveries == [] and reply.errors == [WITHHELD]
    assert (await audit(core))[-1].event == AuditEvent.WITHHELD


async def test_a_flagged_result_in_a_reviewed_channel_is_withheld_not_queued(
    moderated: Atelier, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_agnes.image = png_bytes(color=RED)
    fake_moderation.flag_images(colour=RED, violence=0.97)
    await moderated.store.settings.set(SCOPE, OUTPUT, "spoiler")  # a review channel overrides it
    await moderated.store.moderation.set_review(SCOPE, "art", True)
    desk = await attach_desk(moderated)

    reply = await send(moderated, "/imagine a castle", channel="art")

    assert reply.deliveries == [] and reply.errors == [WITHHELD]
    [(_, item)] = desk.posted
    assert item.kind == "alert"
    assert await moderated.store.moderation.pending_reviews(SCOPE) == []


class SlowDesk(RecordingDesk):
    """Posts only once a test lets it: the moment between a held job's commit and its review's post."""

    def __init__(self) -> None:
        super().__init__()
        self.posting = asyncio.Event()
        self.go_on = asyncio.Event()

    async def post(self, place: str, item: DeskItem) -> str | None:
        self.posting.set()
        await self.go_on.wait()
        return await super().post(place, item)


async def test_a_job_being_sent_for_review_can_no_longer_be_cancelled(core: Atelier, fake_agnes: FakeAgnes) -> None:
    await core.store.moderation.set_review(SCOPE, "art", True)
    desk = SlowDesk()
    core.attach_desk("test", desk)
    await core.store.settings.set(SCOPE, LOGCHANNEL, MODS)
    reply = ModReply()

    running = asyncio.create_task(say(core, "/imagine a castle", request_in("art"), reply))
    await asyncio.wait_for(desk.posting.wait(), 5)
    stopped = core.runner.cancel_for(SCOPE, "test:u1")  # charged by now: a Cancel would promise a refund
    desk.go_on.set()
    await asyncio.wait_for(running, 5)

    assert stopped == 0
    assert reply.errors == [] and "approval" in reply.texts[0]
    assert await used(core) == (1, 1)
