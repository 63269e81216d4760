"""`atelier run` and `atelier console` as an operator starts them: a copied `.env.example`, or a setting
that cannot work, ends the process at once with one line naming what to fix, never a traceback or a hang.
No network: the only URLs given point at a closed port on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / ".env.example").read_text()
NO_PROVIDER = "atelier: No provider is configured: set AGNES_API_KEY (or another provider's settings, see README)."


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def atelier(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run `python -m bot ARGS` in `cwd` with no setting in the environment but `env` (and `cwd/.env`)."""
    process = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,  # a hang fails the test instead of blocking the suite
    )
    return process.returncode, process.stdout, process.stderr


def one_line(code: int, out: str, err: str) -> str:
    assert code != 0, (out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def platform_env() -> dict[str, str]:
    """A Telegram token, so `atelier run` gets past "nothing to run", whose API is a closed local port."""
    port = closed_port()
    return {
        "TELEGRAM_TOKEN": "123456:not-a-real-token",
        "TELEGRAM_BASE_URL": f"http://127.0.0.1:{port}/bot",
        "TELEGRAM_BASE_FILE_URL": f"http://127.0.0.1:{port}/file/bot",
    }


def agnes_env() -> dict[str, str]:
    return {"AGNES_API_KEY": "agnes-test-key", "AGNES_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1"}


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("run", "atelier: nothing to run: set TELEGRAM_TOKEN, DISCORD_TOKEN or MATRIX_* (see README)."),
        ("console", NO_PROVIDER),
    ],
)
def test_a_copied_env_example_says_what_to_fill_in(tmp_path: Path, command: str, expected: str) -> None:
    (tmp_path / ".env").write_text(EXAMPLE)
    assert one_line(*atelier(tmp_path, command)) == expected


def test_an_env_example_with_only_a_token_filled_in_asks_for_a_provider_key(tmp_path: Path) -> None:
    # AGNES_API_KEY= is still empty: that is unset, not a key of "" that would start Telegram and fail later.
    settings = platform_env()
    filled = EXAMPLE.replace("\nTELEGRAM_TOKEN=\n", f"\nTELEGRAM_TOKEN={settings['TELEGRAM_TOKEN']}\n")
    assert filled != EXAMPLE
    extra = f"TELEGRAM_BASE_URL={settings['TELEGRAM_BASE_URL']}\n"
    (tmp_path / ".env").write_text(filled + extra)
    assert one_line(*atelier(tmp_path, "run")) == NO_PROVIDER


def database_under_a_file(tmp_path: Path) -> str:
    (tmp_path / "notes.txt").write_text("not a folder")
    return f"sqlite:///{tmp_path / 'notes.txt' / 'atelier.db'}"


def database_is_a_folder(tmp_path: Path) -> str:
    (tmp_path / "atelier.db").mkdir()
    return f"sqlite:///{tmp_path / 'atelier.db'}"


def database_is_not_sqlite(tmp_path: Path) -> str:
    (tmp_path / "atelier.db").write_bytes(b"this is a spreadsheet, honest\n" * 200)
    return f"sqlite:///{tmp_path / 'atelier.db'}"


@pytest.mark.parametrize(
    ("command", "make_url", "expected"),
    [
        ("run", database_under_a_file, "cannot create the folder"),
        ("run", database_is_a_folder, "is a folder, not a database file"),
        ("run", database_is_not_sqlite, "is not a SQLite database this bot can open (file is not a database)"),
        ("console", database_under_a_file, "cannot create the folder"),
    ],
    ids=["run-under-a-file", "run-a-folder", "run-not-sqlite", "console-under-a-file"],
)
def test_a_database_that_cannot_be_used_is_refused_by_name(
    tmp_path: Path, command: str, make_url: Callable[[Path], str], expected: str
) -> None:
    url = make_url(tmp_path)
    line = one_line(*atelier(tmp_path, command, env={**platform_env(), **agnes_env(), "DATABASE_URL": url}))
    assert line.startswith("atelier: Setting DATABASE_URL is invalid: ") and expected in line


# The model checks run after the core starts, on each command's own path; the rest are read with the
# settings, shared by both commands, so `run` alone shows them.
@pytest.mark.parametrize(
    ("command", "settings", "expected"),
    [
        (
            "run",
            {"IMAGE_MODEL": "relay:flux-2-pro"},
            "atelier: Setting IMAGE_MODEL is invalid: No image model called 'relay:flux-2-pro'. "
            "Available: agnes:agnes-image-2.1-flash.",
        ),
        (
            "console",
            {"IMAGE_MODEL": "relay:flux-2-pro"},
            "atelier: Setting IMAGE_MODEL is invalid: No image model called 'relay:flux-2-pro'. ",
        ),
        (
            "run",
            {"IMAGE_MODEL": "agnes-image-9-turbo"},
            "atelier: Setting IMAGE_MODEL is invalid: No image model called 'agnes-image-9-turbo'. "
            "Available: agnes:agnes-image-2.1-flash.",
        ),
        ("run", {"CHAT_MODEL": "agnic:openai/gpt-4o-mini"}, "atelier: Setting CHAT_MODEL is invalid: "),
        ("console", {"CHAT_MODEL": "agnic:openai/gpt-4o-mini"}, "atelier: Setting CHAT_MODEL is invalid: "),
        (
            "run",
            {"DEFAULT_SIZE": "2048x512"},
            "atelier: Setting DEFAULT_SIZE is invalid: 2048x512 is not in ALLOWED_SIZES",
        ),
        (
            "run",
            {"IMAGE_MODEL": "agnes-image-2.1-flash   # or relay:flux-2-pro"},
            "atelier: Setting IMAGE_MODEL is invalid: the value contains ' #': put comments on their own line",
        ),
        ("run", {"MAX_INPUT_IMAGE_BYTES": "20 parsecs"}, "atelier: Setting MAX_INPUT_IMAGE_BYTES is invalid: "),
    ],
    ids=[
        "run-other-provider",
        "console-other-provider",
        "run-unknown-name",
        "run-chat-model",
        "console-chat-model",
        "run-default-size",
        "run-inline-comment",
        "run-byte-size",
    ],
)
def test_a_setting_no_request_could_work_with_is_refused_at_start(
    tmp_path: Path, command: str, settings: dict[str, str], expected: str
) -> None:
    env = {**platform_env(), **agnes_env(), "DATABASE_URL": f"sqlite:///{tmp_path / 'atelier.db'}", **settings}
    code, out, err = atelier(tmp_path, command, env=env)
    line = one_line(code, out, err)
    assert line.startswith(expected), line
    assert env["AGNES_API_KEY"] not in out + err and env["TELEGRAM_TOKEN"] not in out + err


def test_the_console_names_its_model_option(tmp_path: Path) -> None:
    env = {**agnes_env(), "DATABASE_URL": f"sqlite:///{tmp_path / 'atelier.db'}"}
    line = one_line(*atelier(tmp_path, "console", "--model", "relay:qwen", env=env))
    assert line.startswith("atelier: --model is invalid: No image model called 'relay:qwen'.")


def test_the_console_refuses_an_out_folder_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "shots").write_text("a file, not a folder")
    env = {**agnes_env(), "DATABASE_URL": f"sqlite:///{tmp_path / 'atelier.db'}"}
    line = one_line(*atelier(tmp_path, "console", "--out", "shots", env=env))
    assert line == "atelier: --out is invalid: cannot create the folder shots: a file has that name"


def test_valid_settings_still_start(tmp_path: Path) -> None:
    env = {
        **agnes_env(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'atelier.db'}",
        "MAX_INPUT_IMAGE_BYTES": "10MB",
        "DEFAULT_SIZE": "1280x720",
    }
    code, out, err = atelier(tmp_path, "console", env=env)  # empty input: the console ends at once
    assert code == 0, err
    assert "Traceback" not in out + err and (tmp_path / "data" / "atelier.db").is_file()


def test_an_env_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"AGNES_API_KEY=caf\xe9\nTELEGRAM_TOKEN=\n")  # saved as Latin-1
    assert one_line(*atelier(tmp_path, "console")) == "atelier: The .env file is not UTF-8 text: save it as UTF-8"
