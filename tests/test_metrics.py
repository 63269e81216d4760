"""/metrics as Prometheus reads it (scraped over HTTP, parsed with prometheus_client's own parser): its
counters move with jobs run through the core against the fake Agnes server, the queue gauges follow a
provider's queue, and moderation verdicts and refusals are counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core import Atelier
from bot.moderation.gate import BLOCKED, WITHHELD
from bot.moderation.policy import Use
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import poll_until
from tests.fakes.images import png_bytes
from tests.fakes.moderation_server import FakeModeration
from tests.metrics_kit import Samples, scrape, serving
from tests.moderation_kit import fake_moderation_fixture, started, with_model  # noqa: F401 - a pytest fixture
from tests.recording import RecordingReply, make_request, say

MODEL = {"provider": "agnes", "model": "agnes-image-2.1-flash"}
RED = (220, 30, 30)


async def imagine(core: Atelier, prompt: str, *, guild: str | None = "g1", user: str = "u1") -> RecordingReply:
    reply = RecordingReply()
    await say(core, f"/imagine {prompt}", make_request(user, guild=guild), reply)
    return reply


def jobs(samples: Samples, outcome: str) -> float:
    return samples.value("atelier_jobs_total", **MODEL, outcome=outcome)


async def test_job_counters_move_with_done_failed_and_refused_jobs(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    # The servers/groups have image generation turned off (quota 0); private chats do not.
    async with started(tmp_path, fake_agnes, quota_images_per_guild_per_day=0) as core, serving(core) as server:
        before = await scrape(server)
        assert jobs(before, "done") == 0
        assert "atelier_jobs" in before.families and before.families["atelier_jobs"].type == "counter"

        made = await imagine(core, "a lighthouse", guild=None)
        fake_agnes.faults = ["refusal"]  # the provider turns the prompt down: the job fails and is refunded
        failed = await imagine(core, "a lighthouse again", guild=None)
        refused = await imagine(core, "a lighthouse in the group")

        assert len(made.deliveries) == 1 and failed.deliveries == [] and failed.errors
        assert refused.errors and "turned off" in refused.errors[0]
        after = await scrape(server)
    assert (jobs(after, "done"), jobs(after, "failed"), jobs(after, "refused")) == (1, 1, 1)
    assert after.value("atelier_refusals_total", use="images", rule="quota") == 1
    # One generation answered, one refused by the provider; the refused job never reached it.
    assert after.value("atelier_provider_seconds_count", provider="agnes", outcome="ok") == 1
    assert after.value("atelier_provider_seconds_count", provider="agnes", outcome="error") == 1
    assert after.value("atelier_provider_seconds_bucket", provider="agnes", outcome="ok", le="+Inf") == 1
    assert len(fake_agnes.image_requests()) == 2
    assert after.value("process_resident_memory_bytes") > 0


async def test_rate_limited_requests_are_counted_by_rule(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    async with started(tmp_path, fake_agnes, rate_limit_per_user_per_minute=1) as core, serving(core) as server:
        first = await imagine(core, "a castle")
        second = await imagine(core, "another castle")
        samples = await scrape(server)
    assert len(first.deliveries) == 1 and second.errors and "Slow down" in second.errors[0]
    assert samples.value("atelier_refusals_total", use="images", rule="rate") == 1
    assert (jobs(samples, "done"), jobs(samples, "refused")) == (1, 1)


async def test_queue_depth_follows_the_providers_queue(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    fake_agnes.faults = ["timeout"]  # the first generation waits until the fake is released
    async with started(tmp_path, fake_agnes, agnes_max_concurrency=1) as core, serving(core) as server:
        first = asyncio.create_task(imagine(core, "a slow one", user="u1"))
        second = asyncio.create_task(imagine(core, "a queued one", user="u2"))

        async def queued() -> Samples | None:
            samples = await scrape(server)
            return samples if samples.value("atelier_provider_queue_depth", provider="agnes") == 1 else None

        waiting = await poll_until(queued, 10, what="one generation queued behind the running one")
        assert waiting.value("atelier_provider_running", provider="agnes") == 1
        assert waiting.value("atelier_provider_concurrency_limit", provider="agnes") == 1
        assert waiting.families["atelier_provider_queue_depth"].type == "gauge"
        fake_agnes.release()
        replies = await asyncio.gather(first, second)
        drained = await scrape(server)
    assert all(len(reply.deliveries) == 1 for reply in replies)
    assert drained.value("atelier_provider_queue_depth", provider="agnes") == 0
    assert drained.value("atelier_provider_running", provider="agnes") == 0
    assert jobs(drained, "done") == 2


async def test_moderation_verdicts_and_withheld_jobs_are_counted(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_agnes.image = png_bytes(color=RED)
    fake_moderation.flag_images(colour=RED, violence=0.97)
    settings = with_model(fake_moderation, moderation_blocklist="dragon")
    async with started(tmp_path, fake_agnes, **settings) as core, serving(core) as server:
        blocked = await imagine(core, "a dragon over the sea")
        withheld = await imagine(core, "a quiet meadow")
        samples = await scrape(server)
    assert blocked.errors == [BLOCKED[Use.IMAGES]]
    assert withheld.deliveries == [] and withheld.errors == [WITHHELD]
    verdicts = {
        (check, verdict): samples.value("atelier_moderation_verdicts_total", check=check, verdict=verdict)
        for check in ("images", "result")
        for verdict in ("blocked", "clean", "flagged")
    }
    assert {key: count for key, count in verdicts.items() if count} == {
        ("images", "blocked"): 1,  # the blocklist: the model was not asked
        ("images", "clean"): 1,  # the meadow prompt
        ("result", "flagged"): 1,  # its red result
    }
    assert (jobs(samples, "refused"), jobs(samples, "withheld"), jobs(samples, "done")) == (1, 1, 0)


async def test_each_core_keeps_its_own_counts(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    """Two cores in one process (as in these tests, or a console beside a bot) never add up each other's."""
    (tmp_path / "one").mkdir(), (tmp_path / "other").mkdir()
    one = await Atelier.start(make_settings(tmp_path / "one", fake_agnes))
    other = await Atelier.start(make_settings(tmp_path / "other", fake_agnes))
    try:
        await imagine(one, "a lighthouse")
        async with serving(one) as first, serving(other) as second:
            assert jobs(await scrape(first), "done") == 1
            assert jobs(await scrape(second), "done") == 0
    finally:
        await one.close()
        await other.close()
