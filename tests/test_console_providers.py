"""`atelier console --model provider:model` makes real images with every seed provider (against its fake)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.fakes.a1111_server import FakeA1111
from tests.fakes.apiframe_server import FakeApiframe
from tests.fakes.openrouter_server import FakeOpenRouter
from tests.fakes.relay_server import FakeRelay
from tests.test_console import run_cli, saved_paths

FAST_POLLING = {
    "APIFRAME_POLL_SECONDS": "0.05",
    "APIFRAME_POLL_MAX_SECONDS": "0.1",
    "RELAY_POLL_SECONDS": "0.05",
    "RELAY_POLL_WAIT_SECONDS": "1",
    "A1111_PROGRESS_SECONDS": "0.05",
}


def agnic_env(fake: Any) -> dict[str, str]:
    return {"AGNIC_API_KEY": fake.api_key, "AGNIC_BASE_URL": fake.base_url}


def apiframe_env(fake: Any) -> dict[str, str]:
    return {"APIFRAME_API_KEY": fake.api_key, "APIFRAME_BASE_URL": fake.base_url}


def relay_env(fake: Any) -> dict[str, str]:
    return {"RELAY_API_KEY": fake.api_key, "RELAY_BASE_URL": fake.base_url}


def a1111_env(fake: Any) -> dict[str, str]:
    return {"A1111_BASE_URL": fake.base_url}


CASES: list[tuple[str, Callable[[], Any], Callable[[Any], dict[str, str]], bool]] = [
    ("agnic:google/gemini-2.0-flash", FakeOpenRouter, agnic_env, True),
    ("apiframe:flux-pro", FakeApiframe, apiframe_env, True),
    ("relay:flux-2-pro", FakeRelay, relay_env, True),
    ("relay:gpt-image", FakeRelay, relay_env, True),
    ("relay:qwen", FakeRelay, relay_env, True),
    ("relay:gemini-3", FakeRelay, relay_env, False),
    ("relay:stable-diffusion", FakeRelay, relay_env, False),
    ("a1111:default", FakeA1111, a1111_env, True),
]


@pytest.mark.parametrize(("model", "make_fake", "env_for", "edits"), CASES, ids=[case[0] for case in CASES])
async def test_console_with_each_provider(
    tmp_path: Path, model: str, make_fake: Callable[[], Any], env_for: Callable[[Any], dict[str, str]], edits: bool
) -> None:
    fake = await make_fake().start()
    try:
        script = "/imagine a lighthouse at dusk --size 1024x1024\n" + ("/edit make it snowy\n" if edits else "")
        env = {**FAST_POLLING, **env_for(fake)}
        code, out, err = await run_cli(["console", "--model", model, "--out", "shots"], script, env, tmp_path)
    finally:
        await fake.stop()
    assert code == 0, err
    assert "!" not in out, out
    paths = saved_paths(out, tmp_path)
    assert len(paths) == (2 if edits else 1)
    for path in paths:
        with Image.open(path) as image:
            image.load()
    assert model in out  # the caption names the model that made it


async def test_console_edit_with_a_mask_reaches_gpt_image(tmp_path: Path) -> None:
    import base64

    from tests.fakes.images import png_bytes

    photo, mask = png_bytes(64, 64, (10, 90, 200)), png_bytes(64, 64, (255, 255, 255))
    (tmp_path / "photo.png").write_bytes(photo)
    (tmp_path / "mask.png").write_bytes(mask)
    fake = await FakeRelay().start()
    try:
        script = "/edit @photo.png @mask:mask.png make the sky pink --size 1024x1024\n/reroll\n"
        env = {**FAST_POLLING, **relay_env(fake)}
        code, out, err = await run_cli(["console", "--model", "relay:gpt-image"], script, env, tmp_path)
    finally:
        await fake.stop()
    assert code == 0, err
    assert len(saved_paths(out, tmp_path)) == 2
    edit, reroll = fake.submits()
    for submit in (edit, reroll):  # Reroll repeats the masked edit
        assert submit.path == "/v2/image/gpt-image/edit"
        assert base64.b64decode(submit.body["mask"]) == mask
        assert base64.b64decode(submit.body["image"]) == photo


async def test_console_grid_then_u_zoom_pan_region_and_blend_refused(tmp_path: Path) -> None:
    """The Midjourney flow typed: a grid, /u 2, then the masked flows on that image, against A1111."""
    from tests.fakes.images import png_bytes

    (tmp_path / "a.png").write_bytes(png_bytes(64, 48, (200, 0, 0)))
    (tmp_path / "b.png").write_bytes(png_bytes(64, 48, (0, 0, 200)))
    fake = await FakeA1111(progress=[]).start()
    try:
        script = (
            "/imagine a harbour --n 4\n/zoom 2\n/u 2\n/zoom 2\n/pan left\n/region top make the sky red\n"
            "/region sideways oops\n/blend @a.png @b.png\n"
        )
        env = {**FAST_POLLING, **a1111_env(fake)}
        code, out, err = await run_cli(["console", "--model", "a1111:default"], script, env, tmp_path)
    finally:
        await fake.stop()
    assert code == 0, err
    assert "a grid of 4" in out and "pick one image first with `/u N`" in out
    assert "Usage: `/region left|right|top|bottom|centre" in out
    assert "a1111:default takes 1 image, so it cannot blend 2" in out
    assert len(saved_paths(out, tmp_path)) == 5  # the grid, image 2, the zoom, the pan, the region
    edits = [request for request in fake.requests if request.path == "/sdapi/v1/img2img"]
    assert len(edits) == 3 and all("mask" in request.body for request in edits)
    assert edits[-1].body["prompt"] == "make the sky red"
