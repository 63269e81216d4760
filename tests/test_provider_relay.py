"""The Relay gateway (seed 004) against a fake Relay: routes, sync and async modes, errors, idempotency."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from bot.clock import MONOTONIC, Clock
from bot.providers.base import (
    ContentRefused,
    ImageJob,
    Overloaded,
    ProviderError,
    TaskExpired,
    UpstreamTimeout,
)
from bot.providers.relay import RelayImages
from bot.providers.retry import RetryPolicy
from tests.fake_clock import FakeClock
from tests.fakes.images import jpeg_bytes, png_bytes
from tests.fakes.relay_server import FakeRelay
from tests.provider_kit import FAST, Seen, upstream

POLL = 0.01


@pytest.fixture
async def fake() -> AsyncIterator[FakeRelay]:
    server = await FakeRelay().start()
    yield server
    await server.stop()


def provider(
    client: httpx.AsyncClient,
    fake: FakeRelay,
    policy: RetryPolicy = FAST,
    clock: Clock = MONOTONIC,
    **options: object,
) -> RelayImages:
    values: dict[str, object] = {"poll_wait": 1, "poll_interval": POLL}
    caps = upstream(client, policy, max_download_bytes=1_000_000, download_timeout=5.0, clock=clock)  # type: ignore[arg-type]
    return RelayImages(caps, fake.base_url, fake.api_key, **(values | options))  # type: ignore[arg-type]


def job(**overrides: object) -> ImageJob:
    values: dict[str, object] = {
        "prompt": "a red fox in snow",
        "size": (1024, 768),
        "model": "flux-2-pro",
        "idempotency_key": "atelier-job-1",
    }
    return ImageJob(**(values | overrides))  # type: ignore[arg-type]


def assert_png(data: bytes) -> None:
    assert Image.open(io.BytesIO(data)).format == "PNG"


async def test_async_flux_submit_polls_until_completed(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    seen = Seen()
    [image] = await provider(client, fake).generate(job(seed=5), seen)

    assert_png(image)
    [submit] = fake.submits()
    assert submit.path == "/v2/image/flux/generate"
    assert submit.headers["X-API-Key"] == "relay_sk_test"
    assert submit.headers["Idempotency-Key"] == "atelier-job-1"
    assert submit.body == {
        "prompt": "a red fox in snow",
        "width": 1024,
        "height": 768,
        "output_format": "png",
        "seed": 5,
        "async": True,
    }
    polls = fake.polls()
    assert len(polls) == 3 and polls[0].query == {"wait": "1"}
    assert [u.stage for u in seen.updates] == ["queued", "working"]


@pytest.mark.parametrize(("id_field", "output"), [("task_address", "urls"), ("task_id", "data_uri")])
async def test_both_task_id_names_and_result_shapes(
    client: httpx.AsyncClient, fake: FakeRelay, id_field: str, output: str
) -> None:
    fake.id_field, fake.output = id_field, output
    [image] = await provider(client, fake).generate(job(), Seen())
    assert_png(image)


@pytest.mark.parametrize("output", ["images", "urls"])
async def test_sync_mode_reads_images_or_downloads_urls(
    client: httpx.AsyncClient, fake: FakeRelay, output: str
) -> None:
    fake.output = output
    [image] = await provider(client, fake, use_async=False).generate(job(model="qwen"), Seen())
    assert_png(image)
    [submit] = fake.submits()
    assert "async" not in submit.body
    assert fake.polls() == []


async def test_flux_takes_up_to_four_reference_images(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    first, second = png_bytes(8, 8, (1, 1, 1)), jpeg_bytes(8, 8)
    await provider(client, fake).generate(job(images=[first, second]), Seen())
    [submit] = fake.submits()
    assert submit.path == "/v2/image/flux/generate"
    assert base64.b64decode(submit.body["input_image"]) == first
    assert base64.b64decode(submit.body["input_image_2"]) == second
    assert "input_image_3" not in submit.body


async def test_gpt_image_edit_sends_image_and_mask(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    source, mask = png_bytes(8, 8), png_bytes(8, 8, (255, 255, 255))
    await provider(client, fake).generate(job(model="gpt-image", size=(1536, 1024), images=[source], mask=mask), Seen())
    [submit] = fake.submits()
    assert submit.path == "/v2/image/gpt-image/edit"
    assert base64.b64decode(submit.body["image"]) == source
    assert base64.b64decode(submit.body["mask"]) == mask
    assert submit.body["size"] == "1536x1024"
    assert "seed" not in submit.body


async def test_qwen_edit_and_gemini_ratio_routes(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    relay = provider(client, fake)
    await relay.generate(job(model="qwen", images=[png_bytes()], seed=9, size=(768, 1024)), Seen())
    await relay.generate(job(model="gemini-3", size=(1280, 720), idempotency_key="k2"), Seen())
    qwen, gemini = fake.submits()
    assert qwen.path == "/v2/image/qwen/edit"
    assert (qwen.body["size"], qwen.body["seed"]) == ("768x1024", 9)
    assert gemini.path == "/v2/image/gemini-3/generate"
    assert (gemini.body["aspect_ratio"], gemini.body["image_size"]) == ("16:9", "2K")


async def test_stable_diffusion_route_takes_a_negative_prompt(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    relay = provider(client, fake)
    [image] = await relay.generate(job(model="stable-diffusion", negative_prompt="text, watermark"), Seen())
    Image.open(io.BytesIO(image)).verify()
    [submit] = fake.submits()
    assert submit.path == "/v2/automatic1111/sdapi/v1/txt2img"
    assert submit.body["negative_prompt"] == "text, watermark"
    assert (submit.body["width"], submit.body["height"]) == (1024, 768)


def test_models_are_qualified_and_honest(client: httpx.AsyncClient) -> None:
    relay = RelayImages(upstream(client, FAST, max_download_bytes=1, download_timeout=1), "http://x", "k")
    models = {m.qualified: m.capabilities for m in relay.models()}
    assert set(models) == {
        "relay:flux-2-pro", "relay:gemini-3", "relay:gpt-image", "relay:qwen", "relay:stable-diffusion"
    }  # fmt: skip
    assert models["relay:stable-diffusion"].negative_prompt
    assert models["relay:gpt-image"].mask and models["relay:gpt-image"].sizes
    assert not models["relay:gemini-3"].image_to_image
    assert models["relay:flux-2-pro"].max_input_images == 4


async def test_failed_task_with_content_policy_code_is_a_refusal(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    fake.outcome = "failed"
    with pytest.raises(ContentRefused):
        await provider(client, fake).generate(job(), Seen())


async def test_failed_task_with_other_error_has_a_clear_message(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    fake.outcome, fake.error_code, fake.error_as_object = "failed", "GENERATION_ERROR", False
    with pytest.raises(ProviderError) as caught:
        await provider(client, fake).generate(job(), Seen())
    assert caught.value.user_message == "Relay could not make this image."  # never the provider's words
    assert "fake generation_error" in str(caught.value)  # those are kept for the operator


async def test_expired_task_raises_task_expired(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    fake.outcome = "expired"
    with pytest.raises(TaskExpired):
        await provider(client, fake).generate(job(), Seen())


async def test_submit_refused_by_content_policy(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    fake.submit_faults = ["CONTENT_POLICY_DECLINED"]
    with pytest.raises(ContentRefused):
        await provider(client, fake).generate(job(), Seen())
    assert len(fake.submits()) == 1


async def test_rate_limited_submit_honours_retry_after_and_keeps_the_idempotency_key(
    client: httpx.AsyncClient, fake: FakeRelay
) -> None:
    fake.submit_faults = ["RATE_LIMITED"]
    fake.retry_after = "0"
    slow_backoff = RetryPolicy(max_retries=2, deadline_seconds=120.0, base_delay=60.0, max_delay=60.0)
    clock = FakeClock()
    async with clock.autojump():
        [image] = await provider(client, fake, slow_backoff, clock).generate(job(), Seen())
    assert_png(image)
    assert clock.sleeps[0] == 0.0  # Retry-After: 0 honoured, not the 60 s backoff (then the poll intervals)
    assert set(clock.sleeps[1:]) == {POLL}
    first, second = fake.submits()
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "atelier-job-1"


async def test_retried_submit_after_a_timeout_is_not_paid_twice(fake: FakeRelay) -> None:
    # The first submit reaches the gateway but the answer is lost; the retry carries the same key.
    fake.submit_faults = ["hang"]
    async with httpx.AsyncClient(timeout=0.3) as short:
        [image] = await provider(short, fake, RetryPolicy(2, 5.0, 0.01, 0.05)).generate(job(), Seen())
    assert_png(image)
    keys = [s.headers["Idempotency-Key"] for s in fake.submits()]
    assert keys == ["atelier-job-1", "atelier-job-1"]
    assert fake.charges == 1


async def test_generated_idempotency_key_is_stable_across_retries(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    fake.submit_faults = [502]
    await provider(client, fake).generate(job(idempotency_key=""), Seen())
    first, second = fake.submits()
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] != ""


async def test_capacity_exhausted_is_overloaded_after_retries(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    fake.submit_faults = ["CAPACITY_EXHAUSTED"] * 3
    with pytest.raises(Overloaded):
        await provider(client, fake, RetryPolicy(1, 5.0, 0.01, 0.05)).generate(job(), Seen())
    assert len(fake.submits()) == 2


async def test_task_that_never_finishes_times_out_within_the_deadline(
    client: httpx.AsyncClient, fake: FakeRelay
) -> None:
    fake.outcome = "never"
    clock = FakeClock()
    with pytest.raises(UpstreamTimeout):
        async with clock.autojump():
            await provider(client, fake, RetryPolicy(0, 0.3, 0.01, 0.05), clock).generate(job(), Seen())
    assert sum(clock.sleeps) == pytest.approx(0.3)  # polled every interval up to the deadline, then gave up
    assert abs(len(fake.polls()) - 0.3 / POLL) <= 1  # one poll per interval (the last one cut to what was left)


async def test_cancel_mid_poll_stops_polling(client: httpx.AsyncClient, fake: FakeRelay) -> None:
    fake.outcome = "never"
    clock = FakeClock()
    running = asyncio.create_task(provider(client, fake, clock=clock).generate(job(), Seen()))
    for _ in range(2):  # the first poll goes at once; end two intervals, each time until it sleeps again
        clock.advance(await clock.sleeping())
    await clock.sleeping()
    assert len(fake.polls()) == 3  # asleep between polls: nothing in flight
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    # The polling lived in generate(), which has returned: nobody is left waiting to poll again.
    assert clock.pending() == [] and clock.advance(60.0) == 0
    assert len(fake.polls()) == 3
