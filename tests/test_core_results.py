"""What a result says and what an edit asks for (issue 9, items 12, 13, 16 and 24): extra input images
are dropped and said so, the caption gives the size really returned, an edit keeps its input's shape,
and a delivery that cannot finish in time is refunded."""

from __future__ import annotations

import asyncio
import base64
import io

from PIL import Image

from bot.config import Settings
from bot.core import Atelier
from bot.messages import Delivery
from bot.sizes import input_shape, size_for_input
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import jpeg_bytes, png_bytes
from tests.recording import RecordingReply, make_request, say


async def run(core: Atelier, line: str, images: list[bytes] | None = None) -> RecordingReply:
    reply = RecordingReply()
    await say(core, line, make_request(images=images), reply)
    return reply


def sent_images(fake_agnes: FakeAgnes) -> list[bytes]:
    return [base64.b64decode(uri.split(",", 1)[1]) for uri in fake_agnes.image_requests()[-1].body["image"]]


# ------------------------------------------------------------- item 12: more images than the model takes


async def test_an_edit_with_more_images_than_the_model_takes_uses_the_first_ones(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    album = [png_bytes(32, 32, (index * 20, 0, 0)) for index in range(10)]

    reply = await run(core, "/edit make them one picture", album)

    assert reply.errors == []
    assert sent_images(fake_agnes) == album[:4]  # Agnes takes four references
    [delivery] = reply.deliveries
    assert "Note: used the first 4 of 10 images: agnes-image-2.1-flash takes at most 4." in delivery.caption
    assert (await core.store.quotas.usage("test:guild:g1", "test:u1")).user_used == 1


async def test_an_edit_within_the_model_limit_has_no_note(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = await run(core, "/edit make them one picture", [png_bytes(), png_bytes()])
    assert len(sent_images(fake_agnes)) == 2 and "Note" not in reply.deliveries[0].caption


# ----------------------------------------------------------------- item 13: the size really returned


async def test_the_caption_gives_the_size_the_provider_returned(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.image = png_bytes(1024, 1024)
    reply = await run(core, "/imagine a harbour --size 1280x720")
    assert "a harbour\n(1024x1024 (asked 1280x720) · agnes:agnes-image-2.1-flash)" in reply.deliveries[0].caption


async def test_the_caption_gives_one_size_when_it_is_the_asked_one(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.image = png_bytes(1024, 768)
    reply = await run(core, "/imagine a harbour --size 1024x768")
    assert reply.deliveries[0].caption == "a harbour\n(1024x768 · agnes:agnes-image-2.1-flash)"


# ------------------------------------------------------------------------ item 24: the input's shape


async def asked_size(core: Atelier, fake_agnes: FakeAgnes, line: str, image: bytes) -> str:
    reply = await run(core, line, [image])
    assert reply.errors == [], reply.errors
    return fake_agnes.image_requests()[-1].body["size"]


async def test_an_edit_without_a_size_keeps_the_input_shape(core: Atelier, fake_agnes: FakeAgnes) -> None:
    assert await asked_size(core, fake_agnes, "/edit make it snowy", png_bytes(1280, 720)) == "1280x720"
    assert await asked_size(core, fake_agnes, "/edit make it snowy", png_bytes(300, 200)) == "1536x1024"  # 3:2
    assert await asked_size(core, fake_agnes, "/edit make it snowy", png_bytes(200, 300)) == "1024x1536"
    assert await asked_size(core, fake_agnes, "/edit make it snowy", png_bytes(2000, 2000)) == "1024x1024"
    # Asked for, a size or a ratio wins over the input's shape.
    assert await asked_size(core, fake_agnes, "/edit snowy --size 1024x1024", png_bytes(1280, 720)) == "1024x1024"
    assert await asked_size(core, fake_agnes, "/edit snowy --ar 9:16", png_bytes(1280, 720)) == "720x1280"


async def test_a_phone_photo_turned_by_exif_keeps_the_shape_it_is_seen_in(core: Atelier, fake_agnes: FakeAgnes) -> None:
    portrait = Image.new("RGB", (1280, 720), (10, 10, 10))  # stored sideways, shown upright
    exif = portrait.getexif()
    exif[0x0112] = 6  # rotate 90° to show
    out = io.BytesIO()
    portrait.save(out, "JPEG", exif=exif.tobytes())
    assert await asked_size(core, fake_agnes, "/edit make it snowy", out.getvalue()) == "720x1280"


def test_the_input_shape_comes_from_the_header_alone() -> None:
    header_only = png_bytes(1280, 720)[:64]  # no pixel data at all
    assert input_shape(header_only) == (1280, 720)
    assert input_shape(jpeg_bytes(300, 200)) == (300, 200)
    assert input_shape(b"not an image") is None


def test_the_size_for_an_input_is_one_the_model_offers() -> None:
    allowed = Settings(_env_file=None).size_allow_list  # type: ignore[call-arg]
    gpt_image = ("1024x1024", "1536x1024", "1024x1536")
    assert size_for_input((1280, 720), allowed, gpt_image, prefer=(1024, 1024)) == (1536, 1024)
    assert size_for_input((720, 1280), allowed, gpt_image, prefer=(1024, 1024)) == (1024, 1536)
    assert size_for_input((1280, 720), allowed, ("4096x4096",), prefer=(1024, 1024)) is None


# ------------------------------------------------------------------------ item 16: delivery deadline


class NeverDelivers(RecordingReply):
    """A platform that keeps the upload waiting (as flood control does) until told to stop."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.stopped = False

    async def send_images(self, delivery: Delivery) -> None:
        try:
            while True:
                await self.clock.sleep(45)  # Retry-After 45, again and again
        finally:
            self.stopped = True


async def test_a_delivery_past_its_deadline_is_stopped_and_refunded(core: Atelier, fake_agnes: FakeAgnes) -> None:
    clock = core.runner.clock = FakeClock()
    reply = NeverDelivers(clock)

    async with asyncio.timeout(10), clock.autojump():
        await say(core, "/edit make it snowy", make_request(images=[png_bytes()]), reply)

    assert reply.stopped and reply.deliveries == []
    assert reply.errors == [
        "The image was ready, but the chat would not take it in time (it asked me to wait too long). "
        "Nothing was charged; please try again in a while."
    ]
    assert sorted(clock.sleeps[:2]) == [45, core.settings.delivery_deadline_seconds]  # the upload raced the deadline
    [row] = await core.store.db.fetchall("SELECT id, status FROM jobs")
    assert row["status"] == "failed"
    assert (await core.store.quotas.usage("test:guild:g1", "test:u1")).user_used == 0
    assert list((core.settings.database_path.parent / "results").glob("*")) == []  # an undelivered job keeps nothing
