"""Vary (Region), Zoom Out, Pan and /blend through the core against the fake providers: the masks and canvases
sent upstream, the pixels kept, the buttons offered, and the refusals that make no provider call."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.canvas import PAN_SHARE, pan, region_box, region_mask, restore, zoom_out
from bot.commands.blend import BLEND_PROMPT, TOO_FEW
from bot.core import Atelier
from bot.jobs import OUTPAINT_ACTIONS
from bot.messages import Action, Delivery
from bot.preparation import MASKED_STRENGTH, SUBTLE_STRENGTH
from bot.providers.apiframe import ApiframeImages
from bot.providers.base import ImageJob
from tests.conftest import make_settings
from tests.fakes.a1111_server import FakeA1111
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.recording import RecordingReply, make_request, say

SIZE = (96, 72)
MADE = (10, 20, 230)  # what the fake model paints


def gradient(width: int = SIZE[0], height: int = SIZE[1]) -> bytes:
    """An image whose every pixel differs from its neighbours, so a shifted or resampled copy is caught."""
    image = Image.new("RGB", (width, height))
    image.putdata(
        [(x * 255 // width, y * 255 // height, (x * 7 + y * 13) % 256) for y in range(height) for x in range(width)]
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def decoded(data: bytes, mode: str = "RGB") -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert(mode)


def sent(request_body: dict, key: str) -> bytes:
    value = request_body[key]
    return base64.b64decode(value[0] if isinstance(value, list) else value)


def generations(fake: FakeA1111) -> list[dict]:
    """The bodies of the generation requests A1111 got (its progress polls left out)."""
    return [request.body for request in fake.requests if request.path.endswith("2img")]


async def used(core: Atelier) -> int:
    return (await core.store.quotas.usage("test:guild:g1", "test:u1")).user_used


@pytest.fixture
async def fake_a1111() -> AsyncIterator[FakeA1111]:
    server = await FakeA1111(progress=[], image=gradient()).start()
    yield server
    await server.stop()


@pytest.fixture
async def masked(tmp_path: Path, fake_agnes: FakeAgnes, fake_a1111: FakeA1111) -> AsyncIterator[Atelier]:
    """A bot whose default model takes masks (A1111), with Agnes beside it."""
    settings = make_settings(tmp_path, fake_agnes, a1111_base_url=fake_a1111.base_url, image_model="a1111:default")
    core = await Atelier.start(settings)
    yield core
    await core.close()


async def first_image(core: Atelier) -> Delivery:
    reply = RecordingReply()
    await say(core, "/imagine a harbour at dawn", make_request(), reply)
    assert reply.errors == []
    return reply.deliveries[0]


# ------------------------------------------------------------------------------------------ masks and canvases


@pytest.mark.parametrize("region", ["left", "right", "top", "bottom", "centre"])
def test_a_region_mask_is_white_exactly_where_asked(region: str) -> None:
    mask = decoded(region_mask(gradient(), region), "L")
    left, top, right, bottom = region_box(SIZE, region)
    assert mask.size == SIZE
    for y in range(SIZE[1]):
        for x in range(SIZE[0]):
            inside = left <= x < right and top <= y < bottom
            assert mask.getpixel((x, y)) == (255 if inside else 0), (x, y)
    white = mask.tobytes().count(255)
    assert white == (right - left) * (bottom - top) == (SIZE[0] * SIZE[1]) // (4 if region == "centre" else 2)


def test_zoom_out_keeps_the_image_shrunk_in_the_centre_and_masks_the_border() -> None:
    outpaint = zoom_out(gradient(), 2.0)
    assert outpaint.keep == (24, 18, 72, 54)
    canvas, mask = decoded(outpaint.canvas), decoded(outpaint.mask, "L")
    assert canvas.size == mask.size == SIZE
    shrunk = decoded(gradient()).resize((48, 36), Image.Resampling.LANCZOS)
    assert canvas.crop(outpaint.keep).tobytes() == shrunk.tobytes()
    assert mask.getpixel((0, 0)) == 255 and mask.getpixel((48, 36)) == 0 and mask.getpixel((23, 36)) == 255


def test_restore_puts_the_kept_pixels_back_into_a_result_of_another_size() -> None:
    outpaint = zoom_out(gradient(), 1.5)
    data, width, height = restore(png_bytes(200, 150, MADE), outpaint.canvas, outpaint.keep)
    result = decoded(data)
    assert (width, height) == result.size == SIZE
    assert result.crop(outpaint.keep).tobytes() == decoded(outpaint.canvas).crop(outpaint.keep).tobytes()
    assert result.getpixel((0, 0)) == MADE


# ------------------------------------------------------------------------------------------ through the core


async def test_a_mask_model_offers_region_zoom_and_pan_in_rows_of_at_most_five(masked: Atelier) -> None:
    delivery = await first_image(masked)
    rows = [[button.action for button in row] for row in delivery.button_rows()]
    assert rows == [
        [Action.REROLL, Action.SUBTLE, Action.VARY, Action.REGION, Action.EDIT],
        [Action.ZOOM_2, Action.ZOOM_15],
        [Action.PAN_LEFT, Action.PAN_RIGHT, Action.PAN_UP, Action.PAN_DOWN],
    ]


async def test_a_model_without_masks_offers_no_region_zoom_or_pan(core: Atelier) -> None:
    delivery = await first_image(core)
    offered = {button.action for row in delivery.button_rows() for button in row}
    assert offered == {Action.REROLL, Action.SUBTLE, Action.VARY, Action.EDIT}


async def test_zoom_out_sends_canvas_and_border_mask_and_keeps_the_centre_pixels(
    masked: Atelier, fake_a1111: FakeA1111
) -> None:
    delivery = await first_image(masked)
    original = delivery.images[0].data
    fake_a1111.image = png_bytes(*SIZE, color=MADE)
    reply = RecordingReply()
    await masked.action(Action.ZOOM_2, delivery.job_id, make_request(), reply)
    assert reply.errors == []
    body = generations(fake_a1111)[-1]
    assert "init_images" in body
    expected = zoom_out(original, 2.0)
    assert sent(body, "init_images") == expected.canvas and sent(body, "mask") == expected.mask
    assert body["prompt"] == "a harbour at dawn" and body["denoising_strength"] == MASKED_STRENGTH
    [zoomed] = reply.deliveries
    result = decoded(zoomed.images[0].data)
    assert result.size == SIZE
    assert result.crop(expected.keep).tobytes() == decoded(expected.canvas).crop(expected.keep).tobytes()
    assert result.getpixel((2, 2)) == MADE  # the border is the model's
    assert "zoomed out 2x" in zoomed.caption
    assert await used(masked) == 2

    # Reroll of the zoom paints the border again, and restores the centre again.
    again = RecordingReply()
    await masked.action(Action.REROLL, zoomed.job_id, make_request(), again)
    rerolled = decoded(again.deliveries[0].images[0].data)
    assert rerolled.crop(expected.keep).tobytes() == result.crop(expected.keep).tobytes()
    assert generations(fake_a1111)[-1]["denoising_strength"] == MASKED_STRENGTH


async def test_a_reroll_of_a_subtle_variation_is_as_subtle(masked: Atelier, fake_a1111: FakeA1111) -> None:
    delivery = await first_image(masked)
    varied = RecordingReply()
    await masked.action(Action.SUBTLE, delivery.job_id, make_request(), varied)
    again = RecordingReply()
    await masked.action(Action.REROLL, varied.deliveries[0].job_id, make_request(), again)
    assert again.errors == []
    assert [body["denoising_strength"] for body in generations(fake_a1111)[-2:]] == [SUBTLE_STRENGTH, SUBTLE_STRENGTH]


@pytest.mark.parametrize(
    ("action", "kept", "placed"),
    [
        (Action.PAN_RIGHT, "right", "left"),
        (Action.PAN_LEFT, "left", "right"),
        (Action.PAN_DOWN, "bottom", "top"),
        (Action.PAN_UP, "top", "bottom"),
    ],
)
async def test_pan_keeps_two_thirds_of_the_image_pixel_for_pixel(
    masked: Atelier, fake_a1111: FakeA1111, action: Action, kept: str, placed: str
) -> None:
    delivery = await first_image(masked)
    original = decoded(delivery.images[0].data)
    fake_a1111.image = png_bytes(*SIZE, color=MADE)
    reply = RecordingReply()
    await masked.action(action, delivery.job_id, make_request(), reply)
    assert reply.errors == []
    result = decoded(reply.deliveries[0].images[0].data)
    width, height = SIZE
    dx, dy = round(width * PAN_SHARE), round(height * PAN_SHARE)
    sides = {
        "left": (0, 0, width - dx, height),
        "right": (dx, 0, width, height),
        "top": (0, 0, width, height - dy),
        "bottom": (0, dy, width, height),
    }
    assert result.crop(sides[placed]).tobytes() == original.crop(sides[kept]).tobytes()
    # The side brought in is the model's.
    brought_in = {"left": (0, 0), "right": (width - 1, 0), "up": (0, 0), "down": (0, height - 1)}
    assert result.getpixel(brought_in[action.split("_")[1]]) == MADE
    assert sent(generations(fake_a1111)[-1], "mask") == pan(delivery.images[0].data, action.split("_")[1]).mask


async def test_vary_region_sends_a_mask_of_that_half_and_the_instruction(
    masked: Atelier, fake_a1111: FakeA1111
) -> None:
    delivery = await first_image(masked)
    reply = RecordingReply()
    await masked.action(Action.REGION_TOP, delivery.job_id, make_request(), reply, instruction="make the sky red")
    assert reply.errors == []
    body = generations(fake_a1111)[-1]
    assert body["prompt"] == "make the sky red"
    mask = decoded(sent(body, "mask"), "L")
    assert mask.getpixel((0, 0)) == 255 and mask.getpixel((0, SIZE[1] - 1)) == 0
    assert sent(body, "init_images") == delivery.images[0].data
    assert "only the top half changed" in reply.deliveries[0].caption


async def test_vary_region_without_an_instruction_asks_for_one(masked: Atelier, fake_a1111: FakeA1111) -> None:
    delivery = await first_image(masked)
    calls = len(generations(fake_a1111))
    reply = RecordingReply()
    await masked.action(Action.REGION_LEFT, delivery.job_id, make_request(), reply, instruction="  ")
    assert reply.errors and "Say what to change" in reply.errors[0]
    assert len(generations(fake_a1111)) == calls and await used(masked) == 1


async def test_region_zoom_and_pan_on_a_model_without_masks_are_refused_naming_one_that_has_them(
    masked: Atelier, fake_agnes: FakeAgnes, fake_a1111: FakeA1111
) -> None:
    reply = RecordingReply()
    await say(masked, "/imagine a harbour --model agnes:agnes-image-2.1-flash", make_request(), reply)
    job = reply.deliveries[0].job_id
    agnes_calls, a1111_calls = len(fake_agnes.image_requests()), len(generations(fake_a1111))
    for action in [Action.REGION_LEFT, *OUTPAINT_ACTIONS]:
        refused = RecordingReply()
        await masked.action(action, job, make_request(), refused, instruction="make it red")
        assert refused.deliveries == [] and len(refused.errors) == 1
        assert "cannot take a mask" in refused.errors[0] and "a1111:default" in refused.errors[0]
    assert len(fake_agnes.image_requests()) == agnes_calls and len(generations(fake_a1111)) == a1111_calls
    assert await used(masked) == 1


async def test_blend_sends_every_image_to_the_provider(core: Atelier, fake_agnes: FakeAgnes) -> None:
    images = [png_bytes(64, 48, color) for color in [(250, 0, 0), (0, 250, 0), (0, 0, 250)]]
    reply = RecordingReply()
    await say(core, "/blend --ar 16:9", make_request(images=images), reply)
    assert reply.errors == [] and len(reply.deliveries) == 1
    body = fake_agnes.image_requests()[-1].body
    assert [base64.b64decode(uri.partition(",")[2]) for uri in body["image"]] == images
    assert body["prompt"] == BLEND_PROMPT
    record = await core.store.jobs.get(reply.deliveries[0].job_id)
    assert record is not None and record.kind == "blend" and await used(core) == 1


async def test_blend_with_a_prompt_uses_it(core: Atelier, fake_agnes: FakeAgnes) -> None:
    images = [png_bytes(64, 48, (250, 0, 0)), png_bytes(64, 48, (0, 0, 250))]
    reply = RecordingReply()
    await say(core, "/blend as a watercolour poster", make_request(images=images), reply)
    assert fake_agnes.image_requests()[-1].body["prompt"] == "as a watercolour poster"


async def test_blend_on_a_one_image_model_is_refused_naming_one_that_blends(
    masked: Atelier, fake_agnes: FakeAgnes, fake_a1111: FakeA1111
) -> None:
    images = [png_bytes(64, 48, (250, 0, 0)), png_bytes(64, 48, (0, 0, 250))]
    reply = RecordingReply()
    await say(masked, "/blend", make_request(images=images), reply)
    assert reply.deliveries == [] and len(reply.errors) == 1
    assert "a1111:default takes 1 image, so it cannot blend 2" in reply.errors[0]
    assert "agnes:agnes-image-2.1-flash" in reply.errors[0]
    assert generations(fake_a1111) == [] and fake_agnes.image_requests() == [] and await used(masked) == 0


@pytest.mark.parametrize("count", [0, 1, 5])
async def test_blend_needs_two_to_four_images(core: Atelier, fake_agnes: FakeAgnes, count: int) -> None:
    reply = RecordingReply()
    await say(core, "/blend", make_request(images=[png_bytes()] * count), reply)
    assert len(reply.errors) == 1 and (reply.errors[0] == TOO_FEW if count < 2 else "at most 4" in reply.errors[0])
    assert fake_agnes.image_requests() == [] and await used(core) == 0


async def test_models_shows_which_model_does_which_flow(masked: Atelier) -> None:
    reply = RecordingReply()
    await say(masked, "/models", make_request(), reply)
    text = reply.texts[0]
    lines = text.splitlines()
    a1111 = lines[lines.index(next(line for line in lines if line.startswith("a1111:default"))) + 1]
    agnes = lines[lines.index(next(line for line in lines if line.startswith("agnes:agnes-image"))) + 1]
    assert "Region/Zoom/Pan: yes" in a1111 and "Blend: no" in a1111 and "Vary: strength" in a1111
    assert "Region/Zoom/Pan: no" in agnes and "Blend: up to 4" in agnes and "Vary: by wording" in agnes


def test_apiframe_ultra_maps_vary_strength_to_image_prompt_strength() -> None:
    provider = ApiframeImages(None, "http://127.0.0.1:9", "key", models=["flux-pro-1.1-ultra", "flux-pro"])  # type: ignore[arg-type]
    ultra, pro = provider.models()
    assert ultra.capabilities.strength and not pro.capabilities.strength
    job = ImageJob("a fox", (1024, 1024), "flux-pro-1.1-ultra", images=[png_bytes()], strength=0.35)
    assert provider.build_body(job)["image_prompt_strength"] == 0.65  # a subtle change: the input holds strongly
    job.model = "flux-pro"
    assert "image_prompt_strength" not in provider.build_body(job)
