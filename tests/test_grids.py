"""Grids (`--n 4`, `/settings images_per_prompt`) and their U/V buttons, and Vary (Subtle)/(Strong), through
the core against the fake Agnes server: what is made, shown, charged and sent upstream."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path

from PIL import Image

from bot.core import Atelier
from bot.messages import Action, Delivery, image_ref
from bot.preparation import SUBTLE_WORDING
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.recording import RecordingReply, make_request, say
from tests.test_discord_harness import eventually

COLOURS = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0)]
CELL = (64, 48)  # png_bytes' size


def distinct_images() -> list[bytes]:
    return [png_bytes(*CELL, color=colour) for colour in COLOURS]


async def used(core: Atelier, user: str = "u1") -> int:
    return (await core.store.quotas.usage("test:guild:g1", f"test:{user}")).user_used


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


async def grid_of_four(core: Atelier, fake_agnes: FakeAgnes) -> Delivery:
    fake_agnes.next_images = distinct_images()
    reply = RecordingReply()
    await say(core, "/imagine a fox in the snow --n 4", make_request(), reply)
    assert reply.errors == []
    [delivery] = reply.deliveries
    return delivery


async def test_n_4_is_one_grid_image_twice_as_wide_and_high_with_nine_buttons(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    delivery = await grid_of_four(core, fake_agnes)
    [grid] = delivery.images
    assert (grid.width, grid.height) == (CELL[0] * 2, CELL[1] * 2)
    kept = await core.runner.result_images(delivery.job_id)
    assert kept is not None
    with Image.open(io.BytesIO(grid.data)) as picture:
        assert picture.size == (128, 96)
        cells = [picture.convert("RGB").getpixel((x, y)) for y in (24, 72) for x in (32, 96)]
    # Cell n shows image n (what U_n posts): left to right, top to bottom.
    for cell, image in zip(cells, kept, strict=True):
        with Image.open(io.BytesIO(image)) as original:
            colour = original.convert("RGB").getpixel((0, 0))
        assert max(abs(a - b) for a, b in zip(cell, colour, strict=True)) < 12  # JPEG's tolerance
    assert len({pixels(image) for image in kept}) == 4
    rows = delivery.button_rows()
    labels = [[(button.action, button.number) for button in row] for row in rows]
    assert labels == [
        [(Action.PICK, n) for n in range(1, 5)],
        [(Action.VARY, n) for n in range(1, 5)],
        [(Action.REROLL, None)],
    ]
    assert sum(len(row) for row in rows) == 9
    assert len(fake_agnes.image_requests()) == 4  # Agnes makes one image a request: four at once
    assert await used(core) == 4
    assert "4 images" in delivery.caption


async def test_u2_posts_image_2_alone_byte_identical_and_charges_nothing(core: Atelier, fake_agnes: FakeAgnes) -> None:
    delivery = await grid_of_four(core, fake_agnes)
    kept = await core.runner.result_images(delivery.job_id)
    assert kept is not None and len(kept) == 4
    reply = RecordingReply()
    await core.action(Action.PICK, image_ref(delivery.job_id, 2), make_request(), reply)
    [picked] = reply.deliveries
    [image] = picked.images
    assert image.data == kept[1] and image.data in fake_agnes.sent_images  # the provider's own bytes
    assert (image.width, image.height) == CELL
    assert picked.picks == 0 and {button.ref for row in picked.button_rows() for button in row} == {
        image_ref(delivery.job_id, 2)
    }
    assert len(fake_agnes.image_requests()) == 4 and await used(core) == 4


async def test_v3_sends_image_3_as_the_edit_input(core: Atelier, fake_agnes: FakeAgnes) -> None:
    delivery = await grid_of_four(core, fake_agnes)
    kept = await core.runner.result_images(delivery.job_id)
    assert kept is not None
    reply = RecordingReply()
    await core.action(Action.VARY, image_ref(delivery.job_id, 3), make_request(), reply)
    assert reply.errors == [] and len(reply.deliveries) == 1
    sent = fake_agnes.image_requests()[-1].body["image"][0]
    assert pixels(base64.b64decode(sent.partition(",")[2])) == pixels(kept[2])
    assert len(reply.deliveries[0].images) == 1 and reply.deliveries[0].picks == 0  # a variation is one image
    assert await used(core) == 5


async def test_a_failed_image_of_four_is_refunded_and_said(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.faults = ["refusal"]  # the first request to arrive is refused; the other three succeed
    reply = RecordingReply()
    await say(core, "/imagine a fox --n 4", make_request(), reply)
    [delivery] = reply.deliveries
    assert delivery.picks == 3 and [len(row) for row in delivery.button_rows()] == [3, 3, 1]
    assert "1 of 4 images could not be made" in delivery.caption and "not charged" in delivery.caption
    assert await used(core) == 3
    record = await core.store.jobs.get(delivery.job_id)
    assert record is not None and record.status == "done"


async def test_every_image_failing_refunds_the_whole_grid(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.faults = ["refusal"] * 4
    reply = RecordingReply()
    await say(core, "/imagine a fox --n 4", make_request(), reply)
    assert reply.deliveries == [] and len(reply.errors) == 1 and "content policy" in reply.errors[0]
    assert await used(core) == 0


async def test_the_grid_buttons_work_after_a_restart(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(tmp_path, fake_agnes)
    first = await Atelier.start(settings)
    try:
        delivery = await grid_of_four(first, fake_agnes)
    finally:
        await first.close()
    second = await Atelier.start(settings)
    try:
        kept = await second.runner.result_images(delivery.job_id)
        assert kept is not None
        reply = RecordingReply()
        await second.action(Action.PICK, image_ref(delivery.job_id, 4), make_request(), reply)
        assert [d.images[0].data for d in reply.deliveries] == [kept[3]]
        reroll = RecordingReply()
        await second.action(Action.REROLL, delivery.job_id, make_request(), reroll)
        assert reroll.deliveries[0].picks == 4  # a grid's reroll is a grid again
        assert await used(second) == 8
    finally:
        await second.close()


async def test_a_grid_button_of_another_chat_is_refused(core: Atelier, fake_agnes: FakeAgnes) -> None:
    delivery = await grid_of_four(core, fake_agnes)
    reply = RecordingReply()
    await core.action(Action.PICK, image_ref(delivery.job_id, 1), make_request(guild="other"), reply)
    assert reply.deliveries == [] and reply.errors == ["That button belongs to another chat."]


async def test_images_per_prompt_is_a_server_setting(core: Atelier, fake_agnes: FakeAgnes) -> None:
    admin = make_request(admin=True)
    answer = RecordingReply()
    await say(core, "/settings images_per_prompt 3", admin, answer)
    assert answer.errors and "1, 2 or 4" in answer.errors[0]
    await say(core, "/settings images_per_prompt 2", admin, answer)
    assert "images_per_prompt is now 2" in answer.texts[-1]
    reply = RecordingReply()
    await say(core, "/imagine a fox", make_request(), reply)
    [delivery] = reply.deliveries
    assert delivery.picks == 2 and (delivery.images[0].width, delivery.images[0].height) == (128, 48)
    single = RecordingReply()
    await say(core, "/imagine a fox --n 1", make_request(), single)
    assert single.deliveries[0].picks == 0 and await used(core) == 3


async def test_n_takes_only_1_2_or_4(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = RecordingReply()
    await say(core, "/imagine a fox --n 3", make_request(), reply)
    assert reply.errors and "--n takes 1, 2 or 4" in reply.errors[0]
    assert fake_agnes.image_requests() == [] and await used(core) == 0


async def test_vary_subtle_on_a_model_without_a_strength_knob_says_so_in_the_prompt_only(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    first = RecordingReply()
    await say(core, "/imagine a lighthouse", make_request(), first)
    job = first.deliveries[0].job_id
    reply = RecordingReply()
    await core.action(Action.SUBTLE, job, make_request(), reply)
    assert reply.errors == []
    sent = fake_agnes.image_requests()[-1].body
    assert sent["prompt"] == f"{SUBTLE_WORDING} a lighthouse" and "image" in sent
    assert reply.deliveries[0].caption.startswith("a lighthouse")  # the wording is ours, never shown or kept
    record = await core.store.jobs.get(reply.deliveries[0].job_id)
    assert record is not None and record.prompt == "a lighthouse"


async def test_info_shows_running_jobs_usage_and_the_defaults(core: Atelier, fake_agnes: FakeAgnes) -> None:
    idle = RecordingReply()
    await say(core, "/info", make_request(), idle)
    [text] = idle.texts
    assert "none running" in text and "Images today: you 0/" in text
    assert "Default model here: agnes-image-2.1-flash · images per prompt: 1" in text

    fake_agnes.faults = ["timeout"]  # the job waits upstream until cancelled
    job = asyncio.create_task(say(core, "/imagine a slow fox", make_request(), RecordingReply()))

    async def running() -> bool:
        return bool(await core.store.jobs.running_for("test:guild:g1", "test:u1"))

    await eventually(running)
    busy = RecordingReply()
    await say(core, "/info", make_request(), busy)
    assert "1 running" in busy.texts[0] and "• a slow fox (imagine" in busy.texts[0]
    assert "Images today: you 1/" in busy.texts[0]
    other = RecordingReply()
    await say(core, "/info", make_request("u2"), other)
    assert "none running" in other.texts[0]  # only the asker's own jobs
    await core.cancel(make_request(), RecordingReply())
    await job
    assert await used(core) == 0
