"""Vary (Region), Zoom Out, Pan and /blend on Telegram end to end: a mask model's keys, the region keyboard then
the ForceReply whose answer runs a masked edit (after a restart too), a zoom keeping the centre, and an album
captioned /blend sending every photo."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.canvas import zoom_out
from bot.messages import Action, action_id
from tests.fakes.a1111_server import FakeA1111
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_canvas_flows import MADE, SIZE, decoded, generations, gradient
from tests.test_telegram_albums import push_album, sent_images
from tests.test_telegram_harness import (  # noqa: F401 - pytest fixtures
    USER,
    buttons,
    fake_telegram_fixture,
    running_bot,
    says,
    uploaded_image,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def fake_a1111() -> AsyncIterator[FakeA1111]:
    server = await FakeA1111(progress=[], image=gradient()).start()
    yield server
    await server.stop()


async def test_region_keyboard_then_force_reply_after_a_restart_and_zoom_keeps_the_centre(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram, fake_a1111: FakeA1111
) -> None:
    a1111 = {"a1111_base_url": fake_a1111.base_url, "image_model": "a1111:default"}
    async with running_bot(tmp_path, fake_agnes, fake_telegram, **a1111) as tg:
        tg.fake.push_message(USER, "/imagine a harbour at dawn")
        photo = await tg.fake.wait_for("sendPhoto")
        job = buttons(photo)[0].split(":")[2]
        keyboard = photo.params["reply_markup"]["inline_keyboard"]
        assert [[key["text"] for key in row] for row in keyboard] == [
            ["🎲 Reroll", "🌀 Vary (Subtle)"],
            ["✨ Vary (Strong)", "🖌️ Vary (Region)"],
            ["✏️ Edit"],
            ["🔍 Zoom Out 2x", "🔍 Zoom Out 1.5x"],
            ["⬅️", "➡️", "⬆️", "⬇️"],
        ]
        await tg.idle()
        tg.fake.push_callback_query(photo.result, action_id(Action.REGION, job))
        chooser = await tg.fake.wait_for("sendMessage", says("Choose the part"))
        assert action_id(Action.REGION_LEFT, job) in buttons(chooser)
        tg.fake.push_callback_query(chooser.result, action_id(Action.REGION_LEFT, job))
        prompt = await tg.fake.wait_for("sendMessage", says("in the left half"))
        assert prompt.params["reply_markup"]["force_reply"] is True
    async with running_bot(tmp_path, fake_agnes, fake_telegram, **a1111) as tg:
        tg.fake.push_message(USER, "turn it into a forest", reply_to=prompt.result)
        varied = await tg.fake.wait_for("sendPhoto", count=2)
        body = generations(fake_a1111)[-1]
        assert body["prompt"] == "turn it into a forest"
        mask = decoded(base64.b64decode(body["mask"]), "L")
        assert mask.getpixel((0, 0)) == 255 and mask.getpixel((SIZE[0] - 1, 0)) == 0
        assert "only the left half changed" in varied.params["caption"]

        fake_a1111.image = png_bytes(*SIZE, MADE)
        await tg.idle()
        tg.fake.push_callback_query(photo.result, action_id(Action.ZOOM_15, job))
        zoomed = await tg.fake.wait_for("sendPhoto", count=3)
    expected = zoom_out(gradient(), 1.5)
    result = uploaded_image(zoomed).convert("RGB")
    assert result.crop(expected.keep).tobytes() == decoded(expected.canvas).crop(expected.keep).tobytes()
    assert result.getpixel((0, 0)) == MADE


async def test_an_album_captioned_blend_sends_every_photo(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    async with running_bot(tmp_path, fake_agnes, fake_telegram, telegram_album_wait_seconds=0.3) as tg:
        push_album(tg.fake, USER, 3, "/blend one poster")
        await tg.fake.wait_for("sendPhoto", timeout=10)
        assert [image.size for image in sent_images(fake_agnes)] == [(40, 30), (41, 30), (42, 30)]
        assert fake_agnes.image_requests()[0].body["prompt"] == "one poster"
        tg.fake.push_message(USER, "/blend")
        refused = await tg.fake.wait_for("sendMessage", says("Blend needs 2 to 4 images"))
        assert refused.ok and len(fake_agnes.image_requests()) == 1
