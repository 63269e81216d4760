"""Every upstream fault ends in a clear message and a refund. The providers' backoff runs on a FakeClock
that jumps ahead whenever they wait: the tests check which waits were asked for, without waiting them out."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core import Atelier
from bot.providers.registry import build_catalogue, build_http_client
from tests.conftest import make_settings
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.recording import RecordingReply, make_request, say


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def core(tmp_path: Path, fake_agnes: FakeAgnes, clock: FakeClock) -> AsyncIterator[Atelier]:
    """The core over the registry's providers, their retries waiting on `clock` (which jumps ahead)."""
    settings = make_settings(tmp_path, fake_agnes)
    async with build_http_client(settings) as http, clock.autojump():
        atelier = await Atelier.start(settings, build_catalogue(settings, http, clock))
        yield atelier
        await atelier.close()


async def imagine_once(core: Atelier) -> RecordingReply:
    reply = RecordingReply()
    await say(core, "/imagine a lighthouse", make_request(), reply)
    return reply


async def assert_refunded(core: Atelier) -> None:
    usage = await core.store.quotas.usage("test:guild:g1", "test:u1")
    assert (usage.user_used, usage.scope_used) == (0, 0)
    rows = await core.store.db.fetchall("SELECT status FROM jobs")
    assert [row["status"] for row in rows] == ["failed"]


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ([500, 500, 500], "failed"),
        (["malformed"], "failed"),
        (["bad_url"], "not a usable image"),
        (["not_image"], "could not be read"),
        (["refusal"], "content policy"),
        ([401], "API key was rejected"),
        ([402], "out of credit"),
        ([503, 503, 503], "busy"),
    ],
)
async def test_fault_gives_a_clear_message_and_a_refund(
    core: Atelier, fake_agnes: FakeAgnes, faults: list, expected: str
) -> None:
    fake_agnes.faults = list(faults)
    if "bad_url" in faults:
        fake_agnes.output_mode = "url"
    reply = await imagine_once(core)
    assert reply.deliveries == []
    [message] = reply.errors
    assert expected in message
    assert "Traceback" not in message and "HTTP" not in message
    await assert_refunded(core)


async def test_500_then_success_is_retried_and_charged_once(
    core: Atelier, fake_agnes: FakeAgnes, clock: FakeClock
) -> None:
    fake_agnes.faults = [500]
    reply = await imagine_once(core)
    assert reply.errors == [] and len(reply.deliveries) == 1
    assert len(fake_agnes.image_requests()) == 2
    usage = await core.store.quotas.usage("test:guild:g1", "test:u1")
    assert usage.user_used == 1
    [backoff] = clock.sleeps
    assert 0.5 <= backoff <= 0.75  # the base delay, plus up to half of it in jitter


async def test_backoff_doubles_until_the_retries_run_out(
    core: Atelier, fake_agnes: FakeAgnes, clock: FakeClock
) -> None:
    fake_agnes.faults = [500, 500, 500]
    reply = await imagine_once(core)
    assert "failed" in reply.errors[0]
    first, second = clock.sleeps  # two retries (PROVIDER_MAX_RETRIES=2), then the error
    assert 0.5 <= first <= 0.75 and 1.0 <= second <= 1.25
    assert len(fake_agnes.image_requests()) == 3


async def test_429_retry_after_is_honoured(core: Atelier, fake_agnes: FakeAgnes, clock: FakeClock) -> None:
    fake_agnes.faults = [429]
    fake_agnes.retry_after = "1"
    reply = await imagine_once(core)
    assert reply.errors == [] and len(reply.deliveries) == 1
    assert len(fake_agnes.image_requests()) == 2
    assert clock.sleeps == [1.0]  # waited as told, not the default backoff


async def test_timeout_ends_in_a_message_and_a_refund(tmp_path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(
        tmp_path, fake_agnes, provider_timeout_seconds=0.3, provider_max_retries=0, provider_deadline_seconds=2
    )
    core = await Atelier.start(settings)
    try:
        fake_agnes.faults = ["timeout"]
        reply = await imagine_once(core)
        assert "too long" in reply.errors[0]
        await assert_refunded(core)
    finally:
        await core.close()


async def test_a_crash_leaves_no_charge_after_restart(tmp_path, fake_agnes: FakeAgnes) -> None:
    from bot.store.jobs import JobKind
    from bot.store.quotas import NewJob, QuotaLimits

    settings = make_settings(tmp_path, fake_agnes)
    first = await Atelier.start(settings)
    job = NewJob("crashed", JobKind.IMAGINE, "test:u1", "u1", "test:guild:g1", "c", "p", {}, "agnes", 1)
    assert await first.store.quotas.reserve(job, QuotaLimits(5, 5)) is None
    await first.store.close()  # the process dies with the job running
    with sqlite3.connect(settings.database_path) as db:  # ... long enough ago for its lease to expire
        db.execute("UPDATE instances SET heartbeat_at = heartbeat_at - 3600")

    second = await Atelier.start(settings)
    try:
        await assert_refunded(second)
    finally:
        await second.close()


async def test_failed_delivery_is_refunded(core: Atelier) -> None:
    class BrokenUpload(RecordingReply):
        async def send_images(self, delivery) -> None:
            raise ConnectionError("platform upload failed")

    reply = BrokenUpload()
    await say(core, "/imagine a lighthouse", make_request(), reply)
    assert "Nothing was charged" in reply.errors[0]
    await assert_refunded(core)
    results = core.settings.database_path.parent / "results"
    assert not results.exists() or list(results.iterdir()) == []  # an undelivered job keeps no files
