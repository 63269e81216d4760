"""The OpenRouter-style gateway provider (Agnic, seed 002) against a fake gateway, through real httpx."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from bot.clock import MONOTONIC, Clock
from bot.providers.base import AuthError, ContentRefused, ImageJob, ProviderError, ProviderProgress, UpstreamTimeout
from bot.providers.openrouter import OpenRouterImages
from bot.providers.retry import RetryPolicy
from tests.fake_clock import FakeClock
from tests.fakes.images import png_bytes
from tests.fakes.openrouter_server import FakeOpenRouter
from tests.provider_kit import FAST, upstream


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenRouter]:
    server = await FakeOpenRouter().start()
    yield server
    await server.stop()


def provider(
    client: httpx.AsyncClient, fake: FakeOpenRouter, policy: RetryPolicy = FAST, clock: Clock = MONOTONIC
) -> OpenRouterImages:
    return OpenRouterImages(
        upstream(client, policy, max_download_bytes=1_000_000, download_timeout=5.0, clock=clock),  # type: ignore[arg-type]
        fake.base_url,
        fake.api_key,
        models=["google/gemini-2.0-flash"],
    )


async def ignore(_: ProviderProgress) -> None:
    return None


def job(**overrides: object) -> ImageJob:
    values: dict[str, object] = {
        "prompt": "a sunset over mountains",
        "size": (1024, 1024),
        "model": "google/gemini-2.0-flash",
    }
    return ImageJob(**(values | overrides))  # type: ignore[arg-type]


def assert_png(data: bytes) -> None:
    assert Image.open(io.BytesIO(data)).format == "PNG"


async def test_text_to_image_reads_the_data_url_and_sends_modalities_and_ratio(
    client: httpx.AsyncClient, fake: FakeOpenRouter
) -> None:
    [image] = await provider(client, fake).generate(job(size=(1280, 720)), ignore)

    assert_png(image)
    assert image == fake.image
    [sent] = fake.requests
    assert sent.headers["Authorization"] == "Bearer agnic_tok_test"
    assert sent.body["modalities"] == ["image", "text"]
    assert sent.body["image_config"] == {"aspect_ratio": "16:9"}
    assert sent.body["messages"] == [{"role": "user", "content": "a sunset over mountains"}]
    assert sent.body["model"] == "google/gemini-2.0-flash"


async def test_models_are_named_with_the_provider_prefix(client: httpx.AsyncClient, fake: FakeOpenRouter) -> None:
    [model] = provider(client, fake).models()
    assert model.qualified == "agnic:google/gemini-2.0-flash"
    assert model.capabilities.image_to_image and model.capabilities.aspect_ratios


async def test_image_to_image_sends_data_uri_content_blocks(client: httpx.AsyncClient, fake: FakeOpenRouter) -> None:
    source = png_bytes(20, 20, (0, 255, 0))
    await provider(client, fake).generate(job(images=[source], prompt="make it snowy"), ignore)

    [sent] = fake.requests
    text, picture = sent.body["messages"][0]["content"]
    assert text == {"type": "text", "text": "make it snowy"}
    assert picture["type"] == "image_url"
    uri = picture["image_url"]["url"]
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == source


async def test_plain_http_image_url_is_downloaded(client: httpx.AsyncClient, fake: FakeOpenRouter) -> None:
    fake.mode = "url"
    [image] = await provider(client, fake).generate(job(), ignore)
    assert_png(image)


async def test_text_only_answer_is_reported_with_the_models_words(
    client: httpx.AsyncClient, fake: FakeOpenRouter
) -> None:
    fake.mode = "text_only"
    fake.reply_text = "I can't draw that, but here is a poem instead. " * 20
    with pytest.raises(ProviderError) as caught:
        await provider(client, fake).generate(job(), ignore)
    message = caught.value.user_message
    assert message.startswith("The model answered without an image")
    assert "here is a poem" in message
    assert len(message) < 400


async def test_content_filter_is_a_refusal(client: httpx.AsyncClient, fake: FakeOpenRouter) -> None:
    fake.mode = "content_filter"
    with pytest.raises(ContentRefused):
        await provider(client, fake).generate(job(), ignore)


async def test_error_object_in_a_200_answer_is_a_provider_error(
    client: httpx.AsyncClient, fake: FakeOpenRouter
) -> None:
    fake.mode = "error_200"
    with pytest.raises(ProviderError) as caught:
        await provider(client, fake).generate(job(), ignore)
    # The gateway's words are for the operator's log; the user reads our sentence.
    assert caught.value.user_message == "The provider's model failed."
    assert "Upstream model crashed" in str(caught.value)


async def test_429_with_retry_after_is_honoured_then_succeeds(client: httpx.AsyncClient, fake: FakeOpenRouter) -> None:
    fake.faults = [429]
    fake.retry_after = "0"
    slow_backoff = RetryPolicy(max_retries=2, deadline_seconds=120.0, base_delay=60.0, max_delay=60.0)
    clock = FakeClock()
    async with clock.autojump():
        [image] = await provider(client, fake, slow_backoff, clock).generate(job(), ignore)
    assert_png(image)
    assert len(fake.requests) == 2
    assert clock.sleeps == [0.0]  # Retry-After: 0 wins over the 60 s backoff


async def test_a_hanging_gateway_times_out(fake: FakeOpenRouter) -> None:
    fake.faults = ["hang"]
    async with httpx.AsyncClient(timeout=0.2) as short:
        with pytest.raises(UpstreamTimeout):
            await provider(short, fake, RetryPolicy(max_retries=0, deadline_seconds=1.0)).generate(job(), ignore)


async def test_wrong_key_is_an_auth_error(client: httpx.AsyncClient, fake: FakeOpenRouter) -> None:
    wrong = OpenRouterImages(
        upstream(client, FAST, max_download_bytes=1, download_timeout=1), fake.base_url, "agnic_tok_wrong", models=["m"]
    )
    with pytest.raises(AuthError) as caught:
        await wrong.generate(job(), ignore)
    assert "API key" in caught.value.user_message


async def test_chat_through_the_gateway_streams(tmp_path) -> None:
    from bot.core import Atelier
    from tests.conftest import make_settings
    from tests.recording import RecordingReply, make_request, say

    fake = await FakeOpenRouter().start()
    settings = make_settings(
        tmp_path, None, agnic_api_key=fake.api_key, agnic_base_url=fake.base_url, chat_model="agnic:openai/gpt-4o-mini"
    )
    core = await Atelier.start(settings)
    try:
        reply = RecordingReply()
        await say(core, "hello there", make_request(), reply)
        assert reply.errors == []
        [chunks] = reply.streamed
        assert len(chunks) > 1 and "".join(chunks).strip() == fake.reply_text
        assert fake.requests[-1].body["model"] == "openai/gpt-4o-mini"
    finally:
        await core.close()
        await fake.stop()
