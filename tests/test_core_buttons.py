"""Buttons under a result (issue 9, items 6 and 15): Reroll never runs without the images its job
started from, and a button only works in the chat its job belongs to. Refusals make no provider call
and charge nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from bot.commands.actions import INPUTS_GONE, OTHER_CHAT
from bot.core import Atelier
from bot.housekeeping import prune_results
from bot.messages import Action, Progress
from bot.results import ResultFiles
from bot.store.jobs import JobKind
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.recording import RecordingReply, make_request, say

EDIT_GONE = (
    "The image this edit started from is no longer kept, so it can't be rerolled. Reply to the image with /edit again."
)


async def used(core: Atelier, user: str = "u1", guild: str = "g1") -> int:
    return (await core.store.quotas.usage(f"test:guild:{guild}", f"test:{user}")).user_used


async def delivered(core: Atelier, line: str, images: list[bytes] | None = None) -> str:
    reply = RecordingReply()
    await say(core, line, make_request(images=images), reply)
    assert reply.errors == [], reply.errors
    return reply.deliveries[0].job_id


async def press(core: Atelier, action: Action, job_id: str, **request: object) -> RecordingReply:
    reply = RecordingReply()
    await core.action(action, job_id, make_request(**request), reply, instruction="add a dragon")  # type: ignore[arg-type]
    return reply


async def expire(core: Atelier, job_id: str) -> None:
    """Age the job past retention and prune, as the housekeeping task does."""
    await core.store.db.execute("UPDATE jobs SET finished_at = finished_at - 15 * 86400 WHERE id = ?", (job_id,))
    await prune_results(core.store, ResultFiles(core.settings.database_path.parent / "results"), days=14)


# ------------------------------------------------------------------------ item 6: expired inputs


async def test_reroll_of_an_edit_whose_input_expired_is_refused_uncharged(core: Atelier, fake_agnes: FakeAgnes) -> None:
    job_id = await delivered(core, "/edit make it snowy", [png_bytes()])
    await expire(core, job_id)

    reroll = await press(core, Action.REROLL, job_id)
    vary = await press(core, Action.VARY, job_id)

    assert reroll.errors == [EDIT_GONE] and reroll.deliveries == []
    assert "no longer available" in vary.errors[0] and vary.deliveries == []
    assert len(fake_agnes.image_requests()) == 1  # only the edit itself: no text-to-image of "make it snowy"
    assert await used(core) == 1


async def test_reroll_is_refused_when_the_kept_input_file_is_gone_without_pruning(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    job_id = await delivered(core, "/edit make it snowy", [png_bytes()])
    (core.settings.database_path.parent / "results" / f"{job_id}-in0").unlink()  # lost with a disk, say

    reply = await press(core, Action.REROLL, job_id)

    assert reply.errors == [EDIT_GONE]
    assert len(fake_agnes.image_requests()) == 1 and await used(core) == 1


async def test_reroll_of_a_reroll_of_an_edit_is_refused_once_the_inputs_expire(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    job_id = await delivered(core, "/edit make it snowy", [png_bytes()])
    again = (await press(core, Action.REROLL, job_id)).deliveries[0].job_id
    assert fake_agnes.image_requests()[1].body["image"]  # while kept, a reroll edits the same image
    await expire(core, again)

    reply = await press(core, Action.REROLL, again)

    assert reply.errors == [EDIT_GONE]
    assert len(fake_agnes.image_requests()) == 2 and await used(core) == 2


async def test_reroll_of_a_variation_whose_source_expired_says_so(core: Atelier, fake_agnes: FakeAgnes) -> None:
    first = await delivered(core, "/imagine a castle")
    variation = (await press(core, Action.VARY, first)).deliveries[0].job_id
    await expire(core, variation)

    reply = await press(core, Action.REROLL, variation)

    assert reply.errors == [INPUTS_GONE[JobKind.VARY]]
    assert len(fake_agnes.image_requests()) == 2


async def test_jobs_stored_before_inputs_were_recorded_are_judged_by_their_kind(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    job_id = await delivered(core, "/edit make it snowy", [png_bytes()])
    await core.store.db.execute(
        "UPDATE jobs SET params = json_remove(params, '$.inputs', '$.mask') WHERE id = ?", (job_id,)
    )
    await expire(core, job_id)

    reply = await press(core, Action.REROLL, job_id)

    assert reply.errors == [EDIT_GONE] and len(fake_agnes.image_requests()) == 1


async def test_reroll_of_an_imagine_needs_no_kept_files(core: Atelier, fake_agnes: FakeAgnes) -> None:
    job_id = await delivered(core, "/imagine a castle --seed 3")
    await expire(core, job_id)

    reply = await press(core, Action.REROLL, job_id)

    assert reply.errors == [] and len(reply.deliveries) == 1
    body = fake_agnes.image_requests()[1].body
    assert body["prompt"] == "a castle" and "image" not in body


# -------------------------------------------------------------- item 15: a button's own chat only


@pytest.mark.parametrize("action", [Action.REROLL, Action.VARY, Action.EDIT, Action.CANCEL])
async def test_a_button_naming_another_chats_job_is_refused(
    core: Atelier, fake_agnes: FakeAgnes, action: Action
) -> None:
    job_id = await delivered(core, "/edit make it snowy", [png_bytes()])

    for request in ({"guild": "g2"}, {"user_id": "u2", "guild": "g2"}, {"guild": None}):
        reply = await press(core, action, job_id, **request)
        assert reply.errors == [OTHER_CHAT] and reply.deliveries == [], request
        assert await core.button_refusal(job_id, make_request(**request)) == OTHER_CHAT  # type: ignore[arg-type]

    assert len(fake_agnes.image_requests()) == 1
    assert await used(core) == 1 and await used(core, guild="g2") == 0
    assert await core.button_refusal(job_id, make_request()) is None  # its own chat may use it


@dataclass
class ShowsProgress(RecordingReply):
    running: asyncio.Event = field(default_factory=asyncio.Event)

    async def progress(self, update: Progress) -> None:
        await super().progress(update)
        self.running.set()


async def test_a_forged_cancel_from_another_chat_leaves_the_job_running(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.faults = ["timeout"]  # the provider holds the job until released
    reply = ShowsProgress()
    job = asyncio.ensure_future(say(core, "/imagine something slow", make_request(), reply))
    async with asyncio.timeout(5):
        await reply.running.wait()
    job_id = reply.progress_updates[0].job_id

    forged = await press(core, Action.CANCEL, job_id, guild="g2")
    assert forged.errors == [OTHER_CHAT]
    assert not job.done() and (await core.store.jobs.get(job_id)).status == "running"  # type: ignore[union-attr]

    own = await press(core, Action.CANCEL, job_id)
    async with asyncio.timeout(5):
        await job
    assert own.errors == [] and "Cancelled" in reply.errors[0]
    assert await used(core) == 0


async def test_a_second_cancel_while_the_first_refunds_leaves_nothing_charged(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.faults = ["timeout"]
    reply = ShowsProgress()
    job = asyncio.ensure_future(say(core, "/imagine something slow", make_request(), reply))
    async with asyncio.timeout(5):
        await reply.running.wait()
    job_id = reply.progress_updates[0].job_id

    assert core.runner.cancel_job(job_id, "test:u1")
    for _ in range(3):  # the job is now in its refund: a double press or /cancel arrives
        await asyncio.sleep(0)
    assert not core.runner.cancel_job(job_id, "test:u1")
    assert core.runner.cancel_for("test:guild:g1", "test:u1") == 0
    async with asyncio.timeout(5):
        await job
    assert (await core.store.jobs.get(job_id)).status == "cancelled"  # type: ignore[union-attr]
    assert await used(core) == 0
