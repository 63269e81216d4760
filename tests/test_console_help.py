"""Issue 9, item 25: the console as a newcomer meets it. Its /help is about the console (`@file`, masks,
quoted paths, /reroll, /vary, /reset; no replies or buttons), a command missing its image says how to
attach one, paths with spaces attach, and log lines stay out of the transcript."""

from __future__ import annotations

from pathlib import Path

from adapters.console.logs import STDERR_PREFIX
from bot.commands.help import HELP
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.test_console import run_cli


def agnes_env(fake: FakeAgnes) -> dict[str, str]:
    return {"AGNES_API_KEY": fake.api_key, "AGNES_BASE_URL": fake.base_url}


async def test_help_is_about_the_console(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    code, out, err = await run_cli(["console"], "/help\n", agnes_env(fake_agnes), tmp_path)
    assert code == 0, err
    for taught in ("@photo.png", "@mask:", '@"my photo.png"', "@'my photo.png'", "/reroll", "/vary", "/reset"):
        assert taught in out
    for chat_platform_only in ("reply to", "Reply to", "Buttons", "button"):
        assert chat_platform_only not in out
    assert "Buttons under each image" in HELP  # the chat platforms keep theirs


async def test_a_command_without_an_image_says_how_to_attach_one(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    script = "/ask what is this?\n/edit make it snowy\n/reroll\n"
    code, out, err = await run_cli(["console"], script, agnes_env(fake_agnes), tmp_path)
    assert code == 0, err
    ask, edit, reroll = [line for line in out.splitlines() if line.startswith("! ")]
    assert "@path" in ask and "/ask @photo.png" in ask
    assert "@path" in edit and "/edit @photo.png" in edit
    assert "/imagine" in reroll
    assert "reply" not in out.lower()
    assert not fake_agnes.requests  # nothing reached the provider


async def test_paths_with_spaces_attach_quoted_or_escaped(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    (tmp_path / "my photo.png").write_bytes(png_bytes(40, 30))
    script = "\n".join(
        [
            '/edit @"my photo.png" make it blue',
            "/edit @'my photo.png' make it green",
            "/edit @my\\ photo.png make it red",
            '/edit @"my photo.png make it pink',
        ]
    )
    code, out, err = await run_cli(["console", "--out", "shots"], script + "\n", agnes_env(fake_agnes), tmp_path)
    assert code == 0, err
    edits = fake_agnes.image_requests()
    assert [edit.body["prompt"] for edit in edits] == ["make it blue", "make it green", "make it red"]
    assert all(len(edit.body["image"]) == 1 for edit in edits)
    assert out.count("saved shots/") == 3
    # An unclosed quote is one clear line saying how to write it, and nothing is sent.
    assert """! The quote in @"my is not closed. Put a path with spaces in quotes: @"my photo.png\"""" in out
    assert "No such file" not in out


async def test_log_lines_go_to_a_file_not_into_the_transcript(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    fake_agnes.faults = [400]  # the job fails: the bot logs a warning about it
    env = agnes_env(fake_agnes)
    code, out, err = await run_cli(["console"], "/imagine a lighthouse\n", env, tmp_path)
    assert code == 0, err
    assert "! " in out and "Nothing was charged" in out  # the user is told, in the transcript
    assert "WARNING" not in out + err and err == ""  # the operator's log line is not on the terminal
    log = (tmp_path / "data" / "atelier-console.log").read_text()
    assert "WARNING" in log and "failed" in log


async def test_without_a_writable_log_file_warnings_go_to_stderr_marked(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    fake_agnes.faults = [400]
    (tmp_path / "not-a-dir").write_text("a file")
    env = {**agnes_env(fake_agnes), "CONSOLE_LOG_FILE": str(tmp_path / "not-a-dir" / "console.log")}
    code, out, err = await run_cli(["console"], "/imagine a lighthouse\n", env, tmp_path)
    assert code == 0, err
    assert "WARNING" not in out
    log_lines = err.strip().splitlines()
    assert log_lines and all(line.startswith(f"{STDERR_PREFIX} ") for line in log_lines)
    assert fake_agnes.api_key not in err
