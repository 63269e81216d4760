"""Image hygiene through the job path: results have their own limits, inputs reach the provider upright
and without metadata (GPS, EXIF, text chunks), and a sound PNG is never called damaged."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image, PngImagePlugin

from bot.core import Atelier
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import jpeg_bytes, noisy_png, png_bytes
from tests.recording import RecordingReply, make_request, say

RED, BLUE = (255, 0, 0), (0, 0, 255)
GPS_IFD, ORIENTATION = 0x8825, 0x0112


def sideways_phone_photo() -> bytes:
    """What a phone writes for a portrait shot: landscape pixels (red left, blue right) and EXIF
    orientation 6 ("turn 90 degrees clockwise to view"), with GPS and a comment. Upright it is 40x60,
    red on top."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (52.0, 22.0, 1.0)
    image = Image.new("RGB", (60, 40), RED)
    image.paste(BLUE, (30, 0, 60, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"home", quality=95)
    return out.getvalue()


def png_with_text(text_bytes: int, *, compressed: bool = True) -> bytes:
    """A sound PNG carrying a big text chunk, as ComfyUI writes its workflow into results."""
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", "{" + "x" * text_bytes + "}", zip=compressed)
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 30)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def sent_image(uri: str) -> Image.Image:
    header, _, payload = uri.partition(",")
    assert header.startswith("data:image/")
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def assert_upright_and_clean(image: Image.Image) -> None:
    assert image.size == (40, 60)
    top, bottom = image.convert("RGB").getpixel((20, 10)), image.convert("RGB").getpixel((20, 50))
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # red on top: turned the right way
    assert "exif" not in image.info and "comment" not in image.info
    assert dict(image.getexif()) == {}


async def test_a_sideways_phone_photo_reaches_the_edit_upright_and_without_gps(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    reply = RecordingReply()
    await say(core, "/edit make it snowy", make_request(images=[sideways_phone_photo()]), reply)
    assert reply.errors == [] and len(reply.deliveries) == 1
    [request] = fake_agnes.image_requests()
    assert_upright_and_clean(sent_image(request.body["image"][0]))


async def test_a_sideways_phone_photo_reaches_the_vision_model_upright(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = RecordingReply()
    await say(core, "/ask what is this?", make_request(images=[sideways_phone_photo()]), reply)
    assert reply.errors == []
    [request] = fake_agnes.chat_requests()
    question = request.body["messages"][-1]
    [uri] = [block["image_url"]["url"] for block in question["content"] if block["type"] == "image_url"]
    assert_upright_and_clean(sent_image(uri))


async def test_a_clean_input_goes_upstream_untouched(core: Atelier, fake_agnes: FakeAgnes) -> None:
    clean = jpeg_bytes(60, 40)
    await say(core, "/edit make it snowy", make_request(images=[clean]), RecordingReply())
    [request] = fake_agnes.image_requests()
    assert base64.b64decode(request.body["image"][0].partition(",")[2]) == clean  # no needless re-encode


async def test_text_chunks_are_cut_from_an_input_without_touching_its_pixels(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    source = png_with_text(200_000, compressed=False)
    reply = RecordingReply()
    await say(core, "/edit make it snowy", make_request(images=[source]), reply)
    assert reply.errors == []
    [request] = fake_agnes.image_requests()
    sent = base64.b64decode(request.body["image"][0].partition(",")[2])
    assert len(sent) < 10_000 and b"workflow" not in sent
    with Image.open(io.BytesIO(sent)) as image, Image.open(io.BytesIO(source)) as original:
        assert image.tobytes() == original.tobytes()


async def test_a_png_result_with_a_large_text_chunk_is_delivered(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.image = png_with_text(3_000_000)  # over Pillow's 1 MB limit for one decompressed chunk
    reply = RecordingReply()
    await say(core, "/imagine a lighthouse", make_request(), reply)
    assert reply.errors == []
    [delivery] = reply.deliveries
    assert delivery.images[0].data == fake_agnes.image and delivery.images[0].width == 64


async def test_a_25_mb_result_is_accepted_while_inputs_keep_their_20_mb_limit(
    tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    big = noisy_png(25 * 1024 * 1024)
    assert len(big) > 25 * 1024 * 1024 > 20 * 1024 * 1024
    fake_agnes.image = big
    settings = make_settings(tmp_path, fake_agnes, provider_timeout_seconds=30.0, provider_deadline_seconds=60.0)
    core = await Atelier.start(settings)
    try:
        reply = RecordingReply()
        await say(core, "/imagine a lighthouse", make_request(), reply)
        assert reply.errors == []
        [delivery] = reply.deliveries
        assert delivery.images[0].data == big
        refused = RecordingReply()
        await say(core, "/edit make it snowy", make_request(images=[big]), refused)
        assert refused.deliveries == [] and "the limit is 20 MB" in refused.errors[0]
        assert len(fake_agnes.image_requests()) == 1  # the oversized input never went upstream
    finally:
        await core.close()


async def test_a_truly_damaged_png_is_still_refused(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.image = png_bytes(64, 48)[:-20]
    reply = RecordingReply()
    await say(core, "/imagine a lighthouse", make_request(), reply)
    assert reply.deliveries == [] and "could not be read" in reply.errors[0]


async def test_a_result_over_its_own_limit_says_so(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    fake_agnes.image = noisy_png(1_500_000)
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, max_result_bytes="1MB"))
    try:
        reply = RecordingReply()
        await say(core, "/imagine a lighthouse", make_request(), reply)
        assert reply.deliveries == []
        assert reply.errors == [
            "The provider's image is 1.4 MB, over this bot's 1 MB limit for results. Nothing was charged."
        ]
    finally:
        await core.close()


async def test_a_second_picture_after_the_first_is_not_sent_upstream(core: Atelier, fake_agnes: FakeAgnes) -> None:
    """Phones append a second picture (MPO-style, with its own EXIF) after the first one ends."""
    first = jpeg_bytes(60, 40)
    await say(
        core, "/edit make it snowy", make_request(images=[first + jpeg_bytes(8, 8) + b"GPS 52N"]), RecordingReply()
    )
    [request] = fake_agnes.image_requests()
    assert base64.b64decode(request.body["image"][0].partition(",")[2]) == first
