"""AUTOMATIC1111 / Forge / SD.Next against a fake `/sdapi/v1` server, through real httpx."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from bot.clock import MONOTONIC, Clock
from bot.providers.a1111 import A1111Images
from bot.providers.base import AuthError, ImageJob, ProviderError, UpstreamTimeout
from bot.providers.retry import RetryPolicy
from tests.fake_clock import FakeClock
from tests.fakes.a1111_server import FakeA1111
from tests.fakes.images import png_bytes
from tests.provider_kit import FAST, Seen, upstream

TICK = 0.01


@pytest.fixture
async def fake() -> AsyncIterator[FakeA1111]:
    server = await FakeA1111().start()
    yield server
    await server.stop()


def provider(
    client: httpx.AsyncClient,
    fake: FakeA1111,
    policy: RetryPolicy = FAST,
    clock: Clock = MONOTONIC,
    **options: object,
) -> A1111Images:
    values: dict[str, object] = {"progress_interval": TICK}
    caps = upstream(client, policy, clock=clock)  # type: ignore[arg-type]
    return A1111Images(caps, fake.base_url, **(values | options))  # type: ignore[arg-type]


def job(**overrides: object) -> ImageJob:
    values: dict[str, object] = {"prompt": "a castle on a hill", "size": (768, 512), "model": "default"}
    return ImageJob(**(values | overrides))  # type: ignore[arg-type]


def assert_png(data: bytes) -> None:
    assert Image.open(io.BytesIO(data)).format == "PNG"


async def test_txt2img_sends_the_prompt_and_reports_progress(client: httpx.AsyncClient, fake: FakeA1111) -> None:
    seen = Seen()
    [image] = await provider(client, fake).generate(job(negative_prompt="blurry, text"), seen)

    assert_png(image)
    [sent] = fake.calls("/sdapi/v1/txt2img")
    assert sent.body["prompt"] == "a castle on a hill"
    assert sent.body["negative_prompt"] == "blurry, text"
    assert sent.body["seed"] == -1
    assert (sent.body["width"], sent.body["height"]) == (768, 512)
    assert seen.percents == [0.0, 25.0, 50.0, 75.0]
    assert "authorization" not in {k.lower() for k in sent.headers}


async def test_img2img_sends_init_images_denoising_and_mask(client: httpx.AsyncClient, fake: FakeA1111) -> None:
    source, mask = png_bytes(16, 16, (9, 9, 9)), png_bytes(16, 16, (255, 255, 255))
    fake.progress = []
    [image] = await provider(client, fake).generate(job(images=[source], mask=mask, seed=42), Seen())
    assert_png(image)
    [sent] = fake.calls("/sdapi/v1/img2img")
    assert [base64.b64decode(i) for i in sent.body["init_images"]] == [source]
    assert sent.body["denoising_strength"] == 0.6
    assert base64.b64decode(sent.body["mask"]) == mask
    assert sent.body["seed"] == 42


async def test_basic_auth_is_sent_when_configured(client: httpx.AsyncClient, fake: FakeA1111) -> None:
    fake.username, fake.password = "artist", "pa:ss"
    fake.progress = [0.5]
    seen = Seen()
    [image] = await provider(client, fake, username="artist", password="pa:ss").generate(job(), seen)
    assert_png(image)
    assert seen.percents == [50.0]  # the progress reads authenticate too
    with pytest.raises(AuthError):
        await provider(client, fake, username="artist", password="wrong").generate(job(), Seen())


def test_model_capabilities(client: httpx.AsyncClient) -> None:
    [model] = A1111Images(upstream(client), "http://x").models()
    assert model.qualified == "a1111:default"
    caps = model.capabilities
    assert caps.negative_prompt and caps.seed and caps.image_to_image and caps.progress


async def test_server_error_is_retried_then_reported(client: httpx.AsyncClient, fake: FakeA1111) -> None:
    fake.faults = [500, 500, 500]
    with pytest.raises(ProviderError):
        await provider(client, fake).generate(job(), Seen())
    assert len(fake.calls("/sdapi/v1/txt2img")) == 3


async def test_503_with_retry_after_then_success(client: httpx.AsyncClient, fake: FakeA1111) -> None:
    fake.faults = [503]
    fake.progress = []
    slow_backoff = RetryPolicy(max_retries=2, deadline_seconds=120.0, base_delay=60.0, max_delay=60.0)
    clock = FakeClock()
    async with clock.autojump():
        [image] = await provider(client, fake, slow_backoff, clock).generate(job(), Seen())
    assert_png(image)
    # Retry-After: 0 honoured, not the 60 s backoff; the rest are the progress reader's intervals.
    assert [wait for wait in clock.sleeps if wait != TICK] == [0.0]


async def test_hanging_server_times_out(fake: FakeA1111) -> None:
    fake.faults = ["hang"]
    async with httpx.AsyncClient(timeout=0.2) as short:
        with pytest.raises(UpstreamTimeout):
            await provider(short, fake, RetryPolicy(max_retries=0, deadline_seconds=1.0)).generate(job(), Seen())


async def test_cancel_interrupts_the_generation_and_stops_progress_reads(
    client: httpx.AsyncClient, fake: FakeA1111
) -> None:
    fake.faults = ["hang"]
    clock = FakeClock()
    running = asyncio.create_task(provider(client, fake, clock=clock).generate(job(), Seen()))
    for _ in range(2):  # end two of the progress reader's intervals, each time until it sleeps again
        clock.advance(await clock.sleeping())
    await clock.sleeping()
    assert len(fake.calls("/sdapi/v1/progress")) == 2  # asleep between reads: nothing in flight
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert len(fake.calls("/sdapi/v1/interrupt")) == 1
    # generate() awaited its progress reader before returning: nobody is left waiting to read again.
    assert clock.pending() == [] and clock.advance(60.0) == 0
    assert len(fake.calls("/sdapi/v1/progress")) == 2
