"""The console as a user runs it: `/think` shows that the model thinks (never what), and asking the chat to
draw saves a real image, charged once."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.test_console import run_cli, saved_paths

SECRET_REASONING = "the user wants a short answer; mention Rayleigh"


def scripted(*chunks: dict | str) -> list:
    return [*chunks, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, "data: [DONE]"]


def delta(**fields: object) -> dict:
    return {"choices": [{"index": 0, "delta": fields}]}


async def test_think_and_draw_through_the_console(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "generate_image", "arguments": ""}}
    arguments = json.dumps({"prompt": "a lighthouse at dusk"})
    fake_agnes.chat_scripts = [
        scripted(delta(reasoning_content=SECRET_REASONING), delta(content="Rayleigh scattering.")),
        [
            delta(role="assistant", tool_calls=[call]),
            delta(tool_calls=[{"index": 0, "function": {"arguments": arguments[:10]}}]),
            delta(tool_calls=[{"index": 0, "function": {"arguments": arguments[10:]}}]),
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
            "data: [DONE]",
        ],
        scripted(delta(content="There is your lighthouse.")),
    ]
    env = {"AGNES_API_KEY": fake_agnes.api_key, "AGNES_BASE_URL": fake_agnes.base_url}
    script = "/think why is the sky blue?\ndraw me a lighthouse\n/usage\n"
    code, out, err = await run_cli(["console", "--out", "shots"], script, env, tmp_path)

    assert code == 0, err
    assert out.count("💭 thinking…") == 1 and SECRET_REASONING not in out
    assert "Rayleigh scattering." in out and "There is your lighthouse." in out
    [path] = saved_paths(out, tmp_path)
    with Image.open(path) as image:
        assert image.format == "PNG"
    assert fake_agnes.image_requests()[0].body["prompt"] == "a lighthouse at dusk"
    assert "Images today: you 1/20" in out
    assert fake_agnes.chat_requests()[0].body["chat_template_kwargs"] == {"enable_thinking": True}
    assert "Traceback" not in out + err


async def test_describe_then_imagine_a_number_makes_that_idea(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    (tmp_path / "photo.png").write_bytes(png_bytes(40, 30))
    prompts = [f"a small photo, variant {n}" for n in range(1, 5)]
    fake_agnes.chat_reply = json.dumps({"prompts": prompts})
    env = {"AGNES_API_KEY": fake_agnes.api_key, "AGNES_BASE_URL": fake_agnes.base_url}
    code, out, err = await run_cli(["console", "--out", "shots"], "/describe @photo.png\n/imagine 2\n", env, tmp_path)

    assert code == 0, err
    assert "2. a small photo, variant 2" in out and "/imagine 1 to /imagine 4" in out
    assert [r.body["prompt"] for r in fake_agnes.image_requests()] == [prompts[1]]
    assert len(saved_paths(out, tmp_path)) == 1
