"""APIFRAME Flux (seed 003) against a fake APIFRAME: submit, polling, webhooks, and the whole job path."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport
from PIL import Image

from bot.clock import MONOTONIC, Clock
from bot.core import Atelier
from bot.providers.apiframe import ApiframeImages, fit_size, parse_percentage
from bot.providers.apiframe_webhook import ApiframeWebhooks
from bot.providers.base import (
    AuthError,
    ContentRefused,
    ImageJob,
    ProviderError,
    TaskExpired,
    UpstreamTimeout,
)
from bot.providers.registry import build_catalogue, build_http_client
from bot.providers.retry import RetryPolicy
from tests.conftest import make_settings
from tests.fake_clock import FakeClock
from tests.fakes.apiframe_server import FakeApiframe
from tests.fakes.images import png_bytes
from tests.fakes.loopback import closed_port
from tests.provider_kit import FAST, Seen, upstream
from tests.recording import RecordingReply, make_request, say

POLL = 0.01
LIMITS = {"max_download_bytes": 1_000_000, "download_timeout": 5.0}


@pytest.fixture
async def fake() -> AsyncIterator[FakeApiframe]:
    server = await FakeApiframe().start()
    yield server
    await server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[ApiframeWebhooks]:
    hooks = ApiframeWebhooks("http://unused.invalid", "s3cret", listen="127.0.0.1:0")
    await hooks.start()
    hooks.url = f"http://127.0.0.1:{hooks.port}{hooks.path}"
    yield hooks
    await hooks.stop()


def provider(
    client: httpx.AsyncClient,
    fake: FakeApiframe,
    policy: RetryPolicy = FAST,
    clock: Clock = MONOTONIC,
    **options: object,
) -> ApiframeImages:
    values: dict[str, object] = {
        "models": ["flux-pro", "flux-pro-1.1-ultra"],
        "poll_initial": POLL,
        "poll_max": POLL * 3,
    }
    caps = upstream(client, policy, clock=clock, **LIMITS)  # type: ignore[arg-type]
    return ApiframeImages(caps, fake.base_url, fake.api_key, **(values | options))  # type: ignore[arg-type]


async def let_polls_through(clock: FakeClock, intervals: int) -> None:
    """End the poller's wait `intervals` times, each time until it sleeps again: it is then between two
    polls, with nothing in flight."""
    for _ in range(intervals):
        clock.advance(await clock.sleeping())
    await clock.sleeping()


def job(**overrides: object) -> ImageJob:
    values: dict[str, object] = {"prompt": "a sunflower field in the wind", "size": (1024, 768), "model": "flux-pro"}
    return ImageJob(**(values | overrides))  # type: ignore[arg-type]


def assert_png(data: bytes) -> None:
    assert Image.open(io.BytesIO(data)).format == "PNG"


async def test_text_to_image_submits_polls_reports_percentages_and_downloads(
    client: httpx.AsyncClient, fake: FakeApiframe
) -> None:
    seen = Seen()
    [image] = await provider(client, fake).generate(job(seed=7), seen)

    assert_png(image)
    [submit] = fake.calls("/flux-imagine")
    assert submit.headers["Authorization"] == "test-apiframe-key"
    assert submit.body == {
        "model": "flux-pro",
        "prompt": "a sunflower field in the wind",
        "width": 1024,
        "height": 768,
        "seed": 7,
    }
    assert seen.percents == [30.0, 70.0]  # 70 arrived as the string "70"
    assert seen.updates[0].stage == "queued"  # "staged"
    fetches = fake.calls("/fetch")
    assert len(fetches) == 4 and all(f.body == {"task_id": next(iter(fake.tasks))} for f in fetches)
    assert len(fake.calls(f"/images/{next(iter(fake.tasks))}.png")) == 1


async def test_auth_scheme_is_configurable(client: httpx.AsyncClient, fake: FakeApiframe) -> None:
    fake.auth_scheme = "Bearer"
    fake.progress = []
    [image] = await provider(client, fake, auth_scheme="Bearer").generate(job(), Seen())
    assert_png(image)
    assert fake.calls("/flux-imagine")[0].headers["Authorization"] == "Bearer test-apiframe-key"


async def test_image_to_image_sends_bare_base64_in_image_prompt(client: httpx.AsyncClient, fake: FakeApiframe) -> None:
    source = png_bytes(16, 16, (1, 2, 3))
    fake.progress = []
    await provider(client, fake).generate(job(images=[source]), Seen())
    [submit] = fake.calls("/flux-imagine")
    assert not submit.body["image_prompt"].startswith("data:")
    assert base64.b64decode(submit.body["image_prompt"]) == source


async def test_sizes_are_fitted_into_256_to_1440_and_ultra_takes_a_ratio(
    client: httpx.AsyncClient, fake: FakeApiframe
) -> None:
    assert fit_size((2048, 2048)) == (1440, 1440)
    assert fit_size((1536, 1024)) == (1440, 960)
    assert fit_size((512, 512)) == (512, 512)
    fake.progress = []
    await provider(client, fake).generate(job(size=(2048, 2048)), Seen())
    await provider(client, fake).generate(job(size=(1280, 720), model="flux-pro-1.1-ultra"), Seen())
    square, ultra = fake.calls("/flux-imagine")
    assert (square.body["width"], square.body["height"]) == (1440, 1440)
    assert ultra.body["aspect_ratio"] == "16:9" and "width" not in ultra.body


def test_percentage_parsing_accepts_numbers_and_strings() -> None:
    assert parse_percentage(40) == 40.0
    assert parse_percentage("40") == 40.0
    assert parse_percentage("55%") == 55.0
    assert parse_percentage(None) is None
    assert parse_percentage("soon") is None


@pytest.mark.parametrize("field", ["message", "error"])
async def test_failed_task_gives_a_clear_message(client: httpx.AsyncClient, fake: FakeApiframe, field: str) -> None:
    fake.outcome = "failed"
    fake.failure_field = field
    with pytest.raises(ProviderError) as caught:
        await provider(client, fake).generate(job(), Seen())
    assert caught.value.user_message == "APIFRAME could not make this image."  # never the provider's words
    assert "upstream error" in str(caught.value)  # those are kept for the operator


async def test_moderation_failure_is_a_content_refusal(client: httpx.AsyncClient, fake: FakeApiframe) -> None:
    fake.outcome = "failed"
    fake.failure_reason = "Prompt flagged by moderation"
    with pytest.raises(ContentRefused):
        await provider(client, fake).generate(job(), Seen())


async def test_expired_task_raises_task_expired(client: httpx.AsyncClient, fake: FakeApiframe) -> None:
    fake.outcome = "expired"
    with pytest.raises(TaskExpired):
        await provider(client, fake).generate(job(), Seen())


async def test_submit_errors_use_the_errors_envelope(client: httpx.AsyncClient, fake: FakeApiframe) -> None:
    fake.submit_faults = ["bad_request"]
    with pytest.raises(ProviderError) as caught:
        await provider(client, fake).generate(job(), Seen())
    assert caught.value.user_message == "The provider could not accept this request (HTTP 400 Bad Request)."
    assert "Invalid prompt" in str(caught.value)
    rotated = ApiframeImages(upstream(client, FAST, **LIMITS), fake.base_url, "rotated", models=["flux-pro"])
    with pytest.raises(AuthError):
        await rotated.generate(job(), Seen())


async def test_429_with_retry_after_is_honoured_then_succeeds(client: httpx.AsyncClient, fake: FakeApiframe) -> None:
    fake.submit_faults = [429]
    fake.retry_after = "0"
    fake.progress = []
    slow_backoff = RetryPolicy(max_retries=2, deadline_seconds=120.0, base_delay=60.0, max_delay=60.0)
    clock = FakeClock()
    async with clock.autojump():
        [image] = await provider(client, fake, slow_backoff, clock).generate(job(), Seen())
    assert_png(image)
    assert len(fake.calls("/flux-imagine")) == 2
    assert clock.sleeps == [0.0, POLL]  # Retry-After: 0 honoured, not the 60 s backoff; then one poll interval


async def test_hanging_fetch_times_out_within_the_deadline(fake: FakeApiframe) -> None:
    fake.outcome = "hang"
    fake.progress = []
    async with httpx.AsyncClient(timeout=0.1) as short:
        with pytest.raises(UpstreamTimeout):
            async with asyncio.timeout(5):
                await provider(short, fake, RetryPolicy(max_retries=0, deadline_seconds=0.5)).generate(job(), Seen())


async def test_cancel_mid_poll_stops_fetching(client: httpx.AsyncClient, fake: FakeApiframe) -> None:
    fake.outcome = "never"
    clock = FakeClock()
    running = asyncio.create_task(provider(client, fake, clock=clock).generate(job(), Seen()))
    await let_polls_through(clock, 3)
    assert len(fake.calls("/fetch")) == 3  # one per interval
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    # The polling lived in generate(), which has returned: nobody is left waiting to poll again.
    assert clock.pending() == [] and clock.advance(60.0) == 0
    assert len(fake.calls("/fetch")) == 3


async def test_webhook_delivers_result_without_waiting_for_polls(
    client: httpx.AsyncClient, fake: FakeApiframe, receiver: ApiframeWebhooks
) -> None:
    seen = Seen()
    clock = FakeClock()  # never advanced: the fallback poll's 60 s never pass
    apiframe = provider(client, fake, clock=clock, webhooks=receiver, webhook_poll_interval=60.0)
    [image] = await apiframe.generate(job(), seen)
    assert_png(image)
    [submit] = fake.calls("/flux-imagine")
    assert submit.body["webhook_url"] == receiver.url
    assert submit.body["webhook_secret"] == "s3cret"
    assert fake.calls("/fetch") == []  # with time standing still, only the webhook could have finished it
    assert clock.pending() == []  # the fallback poll's wait ended with the job
    assert seen.percents == [30.0, 70.0]
    assert set(fake.webhook_statuses) == {200}


async def test_webhook_with_wrong_secret_is_rejected_and_polling_finishes_the_job(
    client: httpx.AsyncClient, fake: FakeApiframe, receiver: ApiframeWebhooks
) -> None:
    fake.webhook_secret_override = "guessed"
    apiframe = provider(client, fake, webhooks=receiver, webhook_poll_interval=POLL)
    [image] = await apiframe.generate(job(), Seen())
    assert_png(image)
    assert len(fake.calls("/fetch")) >= 4
    await fake.wait_until(lambda: len(fake.webhook_statuses) == 4)
    assert set(fake.webhook_statuses) == {401}
    assert receiver.rejected == 4


async def test_receiver_checks_the_secret_and_buffers_early_results(receiver: ApiframeWebhooks) -> None:
    async with httpx.AsyncClient() as http:
        missing = await http.post(receiver.url, json={"task_id": "t1", "image_url": "x"})
        wrong = await http.post(receiver.url, json={"task_id": "t1"}, headers={"x-webhook-secret": "s3cre"})
        early = await http.post(
            receiver.url, json={"task_id": "t1", "percentage": 5}, headers={"x-webhook-secret": "s3cret"}
        )
    assert (missing.status_code, wrong.status_code, early.status_code) == (401, 401, 200)
    queue = receiver.watch("t1")  # registered after the webhook arrived: still delivered, once
    assert queue.get_nowait() == {"task_id": "t1", "percentage": 5}
    assert queue.empty()
    receiver.unwatch("t1")


# The whole job path: /imagine through the core, the registry's provider, and the fake.


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def core(tmp_path: Path, fake: FakeApiframe, clock: FakeClock) -> AsyncIterator[Atelier]:
    """The core over the registry's providers, their polling on `clock`."""
    settings = make_settings(
        tmp_path,
        None,
        apiframe_api_key=fake.api_key,
        apiframe_base_url=fake.base_url,
        apiframe_poll_seconds=POLL,
        apiframe_poll_max_seconds=POLL * 3,
    )
    async with build_http_client(settings) as http:
        atelier = await Atelier.start(settings, build_catalogue(settings, http, clock))
        yield atelier
        await atelier.close()


async def usage(core: Atelier) -> tuple[int, int]:
    used = await core.store.quotas.usage("test:guild:g1", "test:u1")
    return used.user_used, used.scope_used


async def test_imagine_through_the_core_delivers_and_charges(
    core: Atelier, fake: FakeApiframe, clock: FakeClock
) -> None:
    reply = RecordingReply()
    async with clock.autojump():
        await say(core, "/imagine a sunflower field --model apiframe:flux-pro --seed 3", make_request(), reply)

    assert reply.errors == []
    [delivery] = reply.deliveries
    assert delivery.images[0].mime == "image/png"
    assert_png(delivery.images[0].data)
    assert "apiframe:flux-pro" in delivery.caption
    assert 70.0 in [p.percent for p in reply.progress_updates]
    assert fake.calls("/flux-imagine")[0].body["seed"] == 3
    assert await usage(core) == (1, 1)


async def test_cancel_through_the_core_stops_polling_and_refunds(
    core: Atelier, fake: FakeApiframe, clock: FakeClock
) -> None:
    fake.outcome = "never"
    reply = RecordingReply()
    running = asyncio.create_task(
        say(core, "/imagine a sunflower field --model apiframe:flux-pro", make_request(), reply)
    )
    await let_polls_through(clock, 2)
    assert len(fake.calls("/fetch")) == 2
    assert await usage(core) == (1, 1)
    assert core.runner.cancel_for("test:guild:g1", "test:u1") == 1
    async with asyncio.timeout(5):
        await running
    assert reply.deliveries == []
    assert any("Cancelled" in error for error in reply.errors)
    assert await usage(core) == (0, 0)
    # The job has ended and its poller with it: nobody is left waiting to poll again.
    assert clock.pending() == [] and clock.advance(60.0) == 0
    assert len(fake.calls("/fetch")) == 2


# A paid submit is sent once: APIFRAME has no idempotency key, so only a submit that never arrived is resent.


async def test_a_500_after_an_accepted_submit_is_not_paid_twice(
    core: Atelier, fake: FakeApiframe, clock: FakeClock
) -> None:
    fake.submit_faults = ["accepted_then_500"] * 3
    replies = [RecordingReply() for _ in range(3)]
    async with clock.autojump():
        for index, reply in enumerate(replies):
            await say(core, "/imagine a sunflower field --model apiframe:flux-pro", make_request(f"u{index}"), reply)
    assert len(fake.tasks) == 3  # three jobs, three upstream tasks: none submitted twice
    assert len(fake.calls("/flux-imagine")) == 3
    for reply in replies:
        assert reply.deliveries == []
        [message] = reply.errors
        assert "Nothing was charged" in message and "Internal server error" not in message
    rows = await core.store.db.fetchall("SELECT status FROM jobs")
    assert [row["status"] for row in rows] == ["failed"] * 3


async def test_a_connection_dropped_after_the_submit_is_not_sent_again(
    core: Atelier, fake: FakeApiframe, clock: FakeClock
) -> None:
    """httpx-aiohttp reports a dropped connection as a ConnectTimeout, as it does a refused one: only
    the latter means the submit never left."""
    fake.submit_faults = ["accepted_then_drop"]
    reply = RecordingReply()
    async with clock.autojump():
        await say(core, "/imagine a sunflower field --model apiframe:flux-pro", make_request(), reply)
    assert len(fake.tasks) == 1 and len(fake.calls("/flux-imagine")) == 1
    [message] = reply.errors
    assert "connection to the provider broke off" in message and "Nothing was charged" in message


async def test_a_submit_that_timed_out_after_sending_is_not_sent_again(fake: FakeApiframe) -> None:
    fake.submit_faults = ["accepted_then_hang"]
    policy = RetryPolicy(max_retries=3, deadline_seconds=5.0, base_delay=0.01, max_delay=0.05)
    async with httpx.AsyncClient(timeout=0.2) as short:
        with pytest.raises(UpstreamTimeout):
            await provider(short, fake, policy).generate(job(), Seen())
    assert len(fake.tasks) == 1 and len(fake.calls("/flux-imagine")) == 1


async def test_a_submit_that_never_connected_is_sent_again(fake: FakeApiframe) -> None:
    """Connection refused: the submit never left, so it is sent again once the provider listens."""
    port = closed_port()
    late = FakeApiframe(progress=[])
    clock = FakeClock()
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=5.0) as http:
        apiframe = ApiframeImages(
            upstream(http, FAST, clock=clock, **LIMITS),  # type: ignore[arg-type]
            f"http://127.0.0.1:{port}",
            late.api_key,
            models=["flux-pro"],
            poll_initial=POLL,
        )
        running = asyncio.create_task(apiframe.generate(job(), Seen()))
        try:
            await clock.sleeping()  # the refused submit is waiting for its retry
            await late.start(port)
            async with clock.autojump():
                [image] = await running
        finally:
            await late.stop()
    assert_png(image)
    assert len(late.tasks) == 1 and len(late.calls("/flux-imagine")) == 1
