"""`atelier console` as a user runs it: a subprocess reading piped commands."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from PIL import Image

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes

ROOT = Path(__file__).resolve().parent.parent


async def run_cli(args: list[str], stdin: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env}, cwd=cwd,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 60)
    return process.returncode or 0, out.decode(), err.decode()


def saved_paths(output: str, cwd: Path) -> list[Path]:
    return [cwd / line.removeprefix("saved ").strip() for line in output.splitlines() if line.startswith("saved ")]


async def test_console_makes_real_pngs_and_streams_answers(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    (tmp_path / "photo.png").write_bytes(png_bytes(40, 30))
    script = "\n".join(
        [
            "/imagine a lighthouse at dusk --size 1024x768",
            "/edit make it snowy",
            "/edit @photo.png make it blue",
            "/ask @photo.png what is this?",
            "tell me more",
            "/usage",
            "/imagine --nope",
        ]
    )
    env = {"AGNES_API_KEY": fake_agnes.api_key, "AGNES_BASE_URL": fake_agnes.base_url}
    code, out, err = await run_cli(["console", "--out", "shots"], script + "\n", env, tmp_path)

    assert code == 0, err
    paths = saved_paths(out, tmp_path)
    assert len(paths) == 3
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG"
    # The bare /edit worked on the last result, as if replying to it.
    first_edit = fake_agnes.image_requests()[1].body
    assert first_edit["prompt"] == "make it snowy" and first_edit["image"][0].startswith("data:image/png")
    assert out.count(fake_agnes.chat_reply) == 2
    assert "Images today: you 3/20" in out
    assert "! Unknown option --nope" in out
    assert "Traceback" not in out + err
    assert fake_agnes.api_key not in out + err


async def test_missing_file_and_bad_setting_are_one_clear_line(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    env = {"AGNES_API_KEY": fake_agnes.api_key, "AGNES_BASE_URL": fake_agnes.base_url}
    code, out, _ = await run_cli(["console"], "/edit @nope.png x\n", env, tmp_path)
    assert code == 0 and "! No such file: nope.png" in out

    code, _, err = await run_cli(["console"], "", {**env, "DEFAULT_SIZE": "big"}, tmp_path)
    assert code == 2
    expected = "atelier: Setting DEFAULT_SIZE is invalid: 'big' is not a size like 1024x768"
    assert err.strip().splitlines() == [expected]


async def test_run_without_tokens_names_the_settings(tmp_path: Path) -> None:
    code, _, err = await run_cli(["run"], "", {}, tmp_path)
    assert code == 2
    assert "TELEGRAM_TOKEN" in err and "DISCORD_TOKEN" in err and "Traceback" not in err
