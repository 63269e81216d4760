"""Bad input gets a clear message, reaches no provider and costs nothing."""

from __future__ import annotations

import pytest

from bot.core import Atelier
from bot.images import ImageLimits
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import bomb_png, jpeg_bytes, noisy_jpeg, noisy_png
from tests.recording import RecordingReply, make_request, say


async def run(core: Atelier, line: str, images: list[bytes] | None = None) -> RecordingReply:
    reply = RecordingReply()
    await say(core, line, make_request(images=images), reply)
    return reply


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/imagine", "Please describe what you want"),
        ("/imagine    ", "Please describe what you want"),
        ("/imagine --size 1024x768", "Please describe what you want"),
        ("/imagine " + "x" * 10_000, "10,000 characters; the limit is 4,000"),
        ("/imagine a cat --size 1000x1000", "Size 1000x1000 is not offered. Allowed sizes: 512x512"),
        ("/imagine a cat --size huge", "'huge' is not a size like 1024x768"),
        ("/imagine a cat --ar 16-9", "not an aspect ratio like 16:9"),
        ("/imagine a cat --seed -4", "--seed takes a whole number"),
        ("/imagine a cat --seed", "--seed needs a value"),
        ("/imagine a cat --style anime", "Unknown option --style. Valid options: --size WxH"),
        ("/imagine a cat --model midjourney", "No image model called 'midjourney'. Available: agnes:"),
        ("/frobnicate", "Unknown command /frobnicate"),
    ],
)
async def test_bad_imagine_requests_are_explained(
    core: Atelier, fake_agnes: FakeAgnes, line: str, expected: str
) -> None:
    reply = await run(core, line)
    assert reply.deliveries == []
    assert expected in reply.errors[0]
    assert fake_agnes.image_requests() == []
    usage = await core.store.quotas.usage("test:guild:g1", "test:u1")
    assert usage.user_used == 0


async def test_aspect_ratio_maps_to_nearest_allowed_size(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = await run(core, "/imagine a wide valley --ar 16:9")
    assert reply.errors == []
    assert fake_agnes.image_requests()[0].body["size"] == "1280x720"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (b"%PDF-1.4 definitely not an image", "not an image I can read"),
        (noisy_png(30_000)[:15_000], "damaged or truncated"),
        (bomb_png(), "megapixels); the limit is 40 megapixels"),
        (b"\x89PNG" + b"\x00" * (21 * 1024 * 1024), "the limit is 20 MB"),
    ],
    ids=["not-an-image", "truncated", "decompression-bomb", "oversized"],
)
async def test_bad_attachments_are_refused_before_any_call(
    core: Atelier, fake_agnes: FakeAgnes, image: bytes, expected: str
) -> None:
    for command in ("/edit make it snowy", "/ask what is this?"):
        reply = await run(core, command, [image])
        assert expected in reply.errors[0], (command, reply.errors)
    assert fake_agnes.requests == []


async def test_jpeg_input_is_accepted_and_sent_with_its_type(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = await run(core, "/edit make it warmer", [jpeg_bytes()])
    assert reply.errors == []
    assert fake_agnes.image_requests()[0].body["image"][0].startswith("data:image/jpeg;base64,")


async def test_a_truncated_jpeg_result_is_refused_and_refunded(core: Atelier, fake_agnes: FakeAgnes) -> None:
    whole = noisy_jpeg()
    fake_agnes.image = whole[: len(whole) // 2]
    reply = await run(core, "/imagine a cat")
    assert reply.deliveries == []
    assert "could not be read" in reply.errors[0]
    usage = await core.store.quotas.usage("test:guild:g1", "test:u1")
    assert usage.user_used == 0


async def test_a_mask_on_a_model_without_masks_is_refused_before_any_call(core: Atelier, fake_agnes: FakeAgnes) -> None:
    from tests.fakes.images import png_bytes

    request = make_request(images=[png_bytes()])
    request.mask = png_bytes()
    reply = RecordingReply()
    await say(core, "/edit make the sky pink", request, reply)
    assert "agnes:agnes-image-2.1-flash cannot take a mask" in reply.errors[0]
    assert fake_agnes.requests == []


async def test_fitting_a_transparent_image_under_a_cap_keeps_its_transparency() -> None:
    import io
    import os

    from PIL import Image

    from bot.images import check_result_image, fit_within

    noisy = Image.frombytes("RGBA", (700, 700), os.urandom(700 * 700 * 4))
    out = io.BytesIO()
    noisy.save(out, "PNG")
    image = await check_result_image(out.getvalue(), ImageLimits())
    fitted = await fit_within(image, 500_000)
    assert len(fitted.data) <= 500_000 and fitted.mime == "image/png"
    with Image.open(io.BytesIO(fitted.data)) as reopened:
        assert reopened.mode == "RGBA"
        assert (fitted.width, fitted.height) == reopened.size

    opaque = await check_result_image(noisy_png(1_500_000), ImageLimits())
    squeezed = await fit_within(opaque, 500_000)
    assert len(squeezed.data) <= 500_000 and squeezed.mime == "image/jpeg"
