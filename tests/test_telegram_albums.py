"""Albums, stickers and animations as inputs (issue 9, item 12): the real adapter against FakeTelegram."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_harness import (
    GROUP,
    USER,
    RunningBot,
    fake_telegram_fixture,  # noqa: F401 - a pytest fixture
    running_bot,
    says,
    text_of,
)


@pytest.fixture
async def bot(tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram) -> AsyncIterator[RunningBot]:
    async with running_bot(tmp_path, fake_agnes, fake_telegram, telegram_album_wait_seconds=0.3) as running:
        yield running


def sent_images(agnes: FakeAgnes) -> list[Image.Image]:
    """The input images of the one image request the provider got, decoded."""
    (request,) = agnes.image_requests()
    images = []
    for uri in request.body["image"]:
        image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        image.load()
        images.append(image)
    return images


def push_album(fake: FakeTelegram, chat: int, count: int, caption: str, *, caption_on: int = 0) -> list[int]:
    """An album as Telegram delivers it: one update per photo, one media_group_id, the caption on one."""
    ids = []
    for index in range(count):
        photo = fake.add_file(png_bytes(40 + index, 30, (index * 20, 0, 0)))
        sent = fake.push_message(
            chat, photo_file_id=photo, media_group_id="album-1", user_id=USER if chat == USER else 3003,
            caption=caption if index == caption_on else None,
        )  # fmt: skip
        ids.append(sent["message"]["message_id"])
    return ids


async def test_an_edit_caption_on_an_album_edits_all_its_photos_in_one_request(bot: RunningBot) -> None:
    push_album(bot.fake, USER, 3, "/edit make them snowy", caption_on=1)
    photo = await bot.fake.wait_for("sendPhoto", timeout=10)
    await bot.idle()

    assert photo.ok and len(bot.agnes.image_requests()) == 1
    assert [image.size for image in sent_images(bot.agnes)] == [(40, 30), (41, 30), (42, 30)]  # in album order
    assert [c for c in bot.fake.calls("sendMessage") if "Nice picture" in text_of(c)] == []  # no hint per photo


async def test_an_album_larger_than_the_model_takes_says_what_was_used(bot: RunningBot) -> None:
    bot.fake.add_chat(GROUP)
    push_album(bot.fake, GROUP, 6, "/edit make them snowy")
    photo = await bot.fake.wait_for("sendPhoto", timeout=10)
    await bot.idle()

    assert len(sent_images(bot.agnes)) == 4  # Agnes takes at most 4
    assert "first 4 of 6" in text_of(photo)
    assert len(bot.fake.calls("sendPhoto")) == 1 and bot.fake.calls("sendMessage") == [
        c for c in bot.fake.calls("sendMessage") if "Working" in text_of(c)
    ]


async def test_an_album_without_a_caption_gets_one_hint(bot: RunningBot) -> None:
    push_album(bot.fake, USER, 4, "")
    hint = await bot.fake.wait_for("sendMessage", says("Nice picture"))
    await bot.idle()
    assert hint.ok and len(bot.fake.calls("sendMessage")) == 1 and bot.agnes.image_requests() == []


async def test_a_static_sticker_is_an_image(bot: RunningBot) -> None:
    webp = io.BytesIO()
    Image.new("RGBA", (64, 64), (200, 30, 30, 255)).save(webp, "WEBP")
    sticker = bot.fake.push_message(USER, sticker_file_id=bot.fake.add_sticker(webp.getvalue()))
    hint = await bot.fake.wait_for("sendMessage", says("sticker"))
    bot.fake.push_message(USER, "/edit make it blue", reply_to=sticker["message"])
    photo = await bot.fake.wait_for("sendPhoto", timeout=10)
    await bot.idle()

    assert "Reply to it with" in text_of(hint) and photo.ok
    (image,) = sent_images(bot.agnes)
    assert image.size == (64, 64)


@pytest.mark.parametrize("kind", ["animated sticker", "video sticker", "gif"])
async def test_animations_get_a_clear_message(bot: RunningBot, kind: str) -> None:
    fake = bot.fake
    if kind == "gif":
        fake.push_message(USER, animation_file_id=fake.add_animation(b"\x00\x00\x00\x18ftypmp42"), caption="/edit x")
    else:
        data = b"\x1f\x8b fake lottie" if kind == "animated sticker" else b"\x1a\x45\xdf\xa3 fake webm"
        sticker_id = fake.add_sticker(data, animated=kind == "animated sticker", video=kind == "video sticker")
        sticker = fake.push_message(USER, sticker_file_id=sticker_id)
        await fake.wait_for("sendMessage", says("can't be used as images"))
        fake.push_message(USER, "/edit make it blue", reply_to=sticker["message"])
    refusal = await fake.wait_for("sendMessage", says("can't be used as images"), count=1 if kind == "gif" else 2)
    await bot.idle()

    assert "static sticker" in text_of(refusal)
    assert bot.agnes.image_requests() == [] and fake.calls("getFile") == []
