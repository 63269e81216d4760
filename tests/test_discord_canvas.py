"""Vary (Region), Zoom Out, Pan and /blend on Discord end to end: the buttons a mask model's result carries, the
region chooser (only the presser sees it) and its form, a zoom after a restart, and /blend's attachments."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.canvas import zoom_out
from bot.messages import Action, action_id
from tests import test_discord_harness as harness
from tests.fakes.a1111_server import FakeA1111
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import CallbackType, FakeDiscord
from tests.test_canvas_flows import MADE, SIZE, decoded, generations, gradient
from tests.test_discord_harness import TIMEOUT, Bot, button_ids, decode, ephemeral_followup, eventually, png_of, running
from tests.test_discord_imagine import job_of

fake_discord = harness.fake_discord
bot = harness.bot
EPHEMERAL = 1 << 6


@pytest.fixture
async def fake_a1111() -> AsyncIterator[FakeA1111]:
    server = await FakeA1111(progress=[], image=gradient()).start()
    yield server
    await server.stop()


def a1111_settings(fake_a1111: FakeA1111) -> dict[str, object]:
    return {"a1111_base_url": fake_a1111.base_url, "image_model": "a1111:default"}


async def test_vary_region_chooser_then_form_sends_a_mask_and_zoom_works_after_a_restart(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes, fake_a1111: FakeA1111
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord, **a1111_settings(fake_a1111)) as started:
        inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "a harbour at dawn"})
        first = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)
        job = job_of(first.json)
        rows = [
            [button.get("label") or button["emoji"]["name"] for button in row["components"]]
            for row in first.json["components"]
        ]
        assert rows == [
            ["Reroll", "Vary (Subtle)", "Vary (Strong)", "Vary (Region)", "Edit"],
            ["Zoom Out 2x", "Zoom Out 1.5x"],
            ["⬅️", "➡️", "⬆️", "⬇️"],
        ]

        async def done() -> bool:
            record = await started.core.store.jobs.get(job)
            return record is not None and record.status == "done"

        await eventually(done)
        press = await fake_discord.dispatch_component(action_id(Action.REGION, job), message=first.message_id)
        chooser = await fake_discord.wait_for_callback(press, TIMEOUT)
        assert chooser.json["type"] == CallbackType.CHANNEL_MESSAGE
        assert chooser.json["data"]["flags"] & EPHEMERAL
        regions = button_ids(chooser.json["data"])
        assert regions == [
            action_id(action, job)
            for action in (
                Action.REGION_LEFT,
                Action.REGION_RIGHT,
                Action.REGION_TOP,
                Action.REGION_BOTTOM,
                Action.REGION_CENTRE,
            )
        ]
        top = await fake_discord.dispatch_component(action_id(Action.REGION_TOP, job))  # on the chooser
        opened = await fake_discord.wait_for_callback(top, TIMEOUT)
        assert opened.json["type"] == CallbackType.MODAL
        submit = await fake_discord.dispatch_modal_submit(opened.json["data"]["custom_id"], {"instruction": "red sky"})
        varied = await fake_discord.wait_for_followup(submit, timeout=TIMEOUT)
        assert varied.files
        body = generations(fake_a1111)[-1]
        assert body["prompt"] == "red sky"
        mask = decoded(base64.b64decode(body["mask"]), "L")
        assert mask.getpixel((0, 0)) == 255 and mask.getpixel((0, SIZE[1] - 1)) == 0
    original = gradient()
    fake_a1111.image = png_of(SIZE, "blue")
    async with running(tmp_path, fake_agnes, fake_discord, **a1111_settings(fake_a1111)):
        click = await fake_discord.dispatch_component(action_id(Action.ZOOM_2, job), message=first.message_id)
        zoomed = await fake_discord.wait_for_followup(click, timeout=TIMEOUT)
    expected = zoom_out(original, 2.0)
    result = decode(zoomed.files[0].data).convert("RGB")
    assert result.crop(expected.keep).tobytes() == decoded(expected.canvas).crop(expected.keep).tobytes()
    assert result.getpixel((1, 1)) == (0, 0, 255) != MADE


async def test_blend_sends_every_attachment_and_a_one_image_model_is_refused(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    images = [png_of((40, 30), colour) for colour in ("red", "green", "blue")]
    options = {f"image{n}": fake_discord.add_attachment(data, f"{n}.png") for n, data in enumerate(images, 1)}
    inter = await fake_discord.dispatch_slash_command("blend", {**options, "prompt": "one poster"})
    blended = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)
    assert blended.files
    body = fake_agnes.image_requests()[-1].body
    assert body["prompt"] == "one poster" and len(body["image"]) == 3
    assert [base64.b64decode(uri.partition(",")[2]) for uri in body["image"]] == images

    one = fake_discord.add_attachment(images[0], "a.png")
    two = fake_discord.add_attachment(images[1], "b.png")
    refused = await fake_discord.dispatch_slash_command("blend", {"image1": one, "image2": two, "model": "nonesuch"})
    error = await ephemeral_followup(fake_discord, refused)
    assert "nonesuch" in error.json["content"]
    assert len(fake_agnes.image_requests()) == 1
