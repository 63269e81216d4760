"""Cancel from any process: /cancel and the Cancel button reach a job whichever process runs it. Two
Atelier cores on one SQLite file stand in for two processes (as in tests/test_lease.py); core A runs
the job, held by the fake Agnes server, and its cancel watcher sleeps on a FakeClock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.commands.actions import ALREADY_ENDED, NOT_YOURS
from bot.core import NO_RUNNING_JOB, Atelier
from bot.failures import CANCELLED
from bot.jobs import CANCEL_WATCH_SECONDS
from bot.messages import Action
from bot.store.jobs import JobStatus
from tests.conftest import make_settings
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import poll_until
from tests.recording import RecordingReply, make_request, say

GUILD = "test:guild:g1"


@dataclass
class Pair:
    a: Atelier  # runs the job
    b: Atelier  # gets the cancel
    watch: FakeClock  # what A's cancel watcher sleeps on


@pytest.fixture
async def pair(tmp_path: Path, fake_agnes: FakeAgnes) -> AsyncIterator[Pair]:
    settings = make_settings(tmp_path, fake_agnes)
    a = await Atelier.start(settings)
    b = await Atelier.start(settings)
    watch = FakeClock()
    a.runner.watch_clock = watch
    try:
        yield Pair(a, b, watch)
    finally:
        fake_agnes.release()
        await a.close()
        await b.close()


async def held_job(pair: Pair, agnes: FakeAgnes) -> tuple[asyncio.Future, RecordingReply, str]:
    """A job of user u1 running in core A, held at the provider: (its task, its user's reply, its id)."""
    agnes.faults = ["timeout"]  # the provider holds the job until released
    reply = RecordingReply()
    task = asyncio.ensure_future(say(pair.a, "/imagine a slow lighthouse", make_request(), reply))

    async def at_provider() -> bool:
        return len(agnes.image_requests()) >= 1

    await poll_until(at_provider, what="the job at the provider")
    (row,) = await pair.b.store.db.fetchall("SELECT id FROM jobs")
    return task, reply, row["id"]


async def watcher_looks(pair: Pair) -> None:
    """A's watcher's second passes: it wakes and asks the store once."""
    await pair.watch.sleeping(lambda remaining: remaining == CANCEL_WATCH_SECONDS)
    pair.watch.advance(CANCEL_WATCH_SECONDS)


async def used(core: Atelier, user: str = "test:u1") -> int:
    return (await core.store.quotas.usage(GUILD, user)).user_used


async def status(core: Atelier, job_id: str) -> JobStatus:
    record = await core.store.jobs.get(job_id)
    assert record is not None
    return record.status


async def test_cancel_in_another_process_stops_the_job_refunded_and_told_once(
    pair: Pair, fake_agnes: FakeAgnes
) -> None:
    task, reply, job_id = await held_job(pair, fake_agnes)
    assert await used(pair.b) == 1

    asker = RecordingReply()
    await say(pair.b, "/cancel", make_request(), asker)
    assert asker.texts == [] and asker.errors == []  # counted as stopped: not "no running job"

    await watcher_looks(pair)
    async with asyncio.timeout(5):
        await task
    assert reply.errors == [CANCELLED] and reply.deliveries == []
    assert await status(pair.b, job_id) is JobStatus.CANCELLED
    assert await used(pair.b) == 0 and await used(pair.a) == 0

    again = RecordingReply()
    await say(pair.b, "/cancel", make_request(), again)
    assert again.texts == [NO_RUNNING_JOB]
    assert reply.errors == [CANCELLED]  # still told once


async def test_the_cancel_button_pressed_through_another_process(pair: Pair, fake_agnes: FakeAgnes) -> None:
    task, reply, job_id = await held_job(pair, fake_agnes)

    first = RecordingReply()
    await pair.b.action(Action.CANCEL, job_id, make_request(), first)
    assert first.errors == []
    second = RecordingReply()  # pressed again before A has noticed: being stopped already
    await pair.b.action(Action.CANCEL, job_id, make_request(), second)
    assert second.errors == [ALREADY_ENDED]

    await watcher_looks(pair)
    async with asyncio.timeout(5):
        await task
    assert reply.errors == [CANCELLED]
    assert await status(pair.a, job_id) is JobStatus.CANCELLED and await used(pair.a) == 0

    third = RecordingReply()
    await pair.b.action(Action.CANCEL, job_id, make_request(), third)
    assert third.errors == [ALREADY_ENDED]
    assert reply.errors == [CANCELLED]


async def test_another_users_cancel_is_refused_and_the_job_runs_on(pair: Pair, fake_agnes: FakeAgnes) -> None:
    task, reply, job_id = await held_job(pair, fake_agnes)

    stranger = RecordingReply()
    await say(pair.b, "/cancel", make_request("u2"), stranger)
    assert stranger.texts == [NO_RUNNING_JOB]
    button = RecordingReply()
    await pair.b.action(Action.CANCEL, job_id, make_request("u2"), button)
    assert button.errors == [NOT_YOURS]

    await watcher_looks(pair)  # A looks, and finds nothing to stop
    await watcher_looks(pair)
    assert not task.done() and await status(pair.a, job_id) is JobStatus.RUNNING
    fake_agnes.release()
    async with asyncio.timeout(5):
        await task
    assert len(reply.deliveries) == 1 and reply.errors == []
    assert await status(pair.a, job_id) is JobStatus.DONE and await used(pair.a) == 1


async def test_a_job_that_finished_meanwhile_is_not_marked_cancelled(pair: Pair, fake_agnes: FakeAgnes) -> None:
    task, reply, job_id = await held_job(pair, fake_agnes)
    fake_agnes.release()
    async with asyncio.timeout(5):
        await task
    assert len(reply.deliveries) == 1

    late = RecordingReply()
    await say(pair.b, "/cancel", make_request(), late)
    assert late.texts == [NO_RUNNING_JOB]
    button = RecordingReply()
    await pair.b.action(Action.CANCEL, job_id, make_request(), button)
    assert button.errors == [ALREADY_ENDED]

    (row,) = await pair.b.store.db.fetchall("SELECT status, cancel_requested FROM jobs WHERE id = ?", (job_id,))
    assert (row["status"], row["cancel_requested"]) == (JobStatus.DONE, 0)
    assert await used(pair.b) == 1 and reply.errors == []


async def test_a_cancel_flagged_as_the_job_delivers_leaves_it_delivered_and_charged(
    pair: Pair, fake_agnes: FakeAgnes
) -> None:
    """The flag lands just before A's watcher looks, but the job delivers first: charged, not cancelled."""
    task, reply, job_id = await held_job(pair, fake_agnes)
    assert await pair.b.runner.cancel_job_everywhere(job_id, "test:u1")
    fake_agnes.release()
    async with asyncio.timeout(5):
        await task
    await pair.watch.sleeping()  # any watcher still about finds nothing of A's to stop
    pair.watch.advance(CANCEL_WATCH_SECONDS)
    assert len(reply.deliveries) == 1 and reply.errors == []
    assert await status(pair.a, job_id) is JobStatus.DONE and await used(pair.a) == 1
