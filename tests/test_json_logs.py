"""LOG_FORMAT=json: one JSON object a line (time, level, logger, event, and the job id and scope of the job
a line is about), every secret masked as in text lines; the default stays human-readable."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from adapters.console.logs import configure_console_logging
from bot.config import SettingsError
from bot.redaction import configure_logging
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.moderation_kit import started
from tests.recording import RecordingReply, make_request, say

TOKEN = "123456:TEST-fake-token-aBcDeFgHiJkLmNoP"
API_URL = f"https://api.telegram.org/bot{TOKEN}/getMe"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers: put the test runner's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    return [json.loads(line) for line in lines]  # every line is one JSON object, or this raises


def test_a_json_line_has_the_fields_and_masks_the_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(make_settings(tmp_path, None, log_format="json", telegram_token=TOKEN))
    logging.getLogger("atelier.test").warning("calling %s failed", API_URL)

    [line] = json_lines(capsys.readouterr().err)
    assert set(line) == {"time", "level", "logger", "event"}  # no job: no job id or scope
    assert line["level"] == "WARNING" and line["logger"] == "atelier.test"
    assert line["event"] == "calling https://api.telegram.org/bot***/getMe failed"
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None  # ISO 8601, with its zone


def test_an_exception_stays_on_its_one_line_masked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(make_settings(tmp_path, None, log_format="json", telegram_token=TOKEN))
    try:
        raise RuntimeError(f"could not reach {API_URL}")
    except RuntimeError:
        logging.getLogger("atelier.test").exception("polling stopped")

    err = capsys.readouterr().err
    [line] = json_lines(err)
    assert line["level"] == "ERROR" and line["event"].startswith("polling stopped\nTraceback")
    assert "RuntimeError: could not reach https://api.telegram.org/bot***/getMe" in line["event"]
    assert TOKEN not in err and TOKEN.split(":")[1] not in err


async def test_a_jobs_lines_carry_its_job_id_and_scope(
    tmp_path: Path, fake_agnes: FakeAgnes, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_agnes.faults = [500, 500, 500]  # retried twice (PROVIDER_MAX_RETRIES=2), then the job fails
    async with started(tmp_path, fake_agnes, log_format="json") as core:
        configure_logging(core.settings)
        reply = RecordingReply()
        await say(core, "/imagine a lighthouse", make_request(), reply)
    assert reply.errors and reply.deliveries == []

    with sqlite3.connect(tmp_path / "atelier.db") as db:
        [(job_id,)] = db.execute("SELECT id FROM jobs").fetchall()
    lines = json_lines(capsys.readouterr().err)
    about_the_job = [line for line in lines if line.get("job_id") == job_id]
    assert {line.get("scope") for line in about_the_job} == {"test:guild:g1"}
    events = [(line["logger"], line["event"]) for line in about_the_job]
    assert [event for logger, event in events if logger == "bot.jobs"] == [
        f"job {job_id} failed: HTTP 500: fake failure 500"
    ]
    assert len([event for logger, event in events if logger == "bot.providers.retry"]) == 2  # the retries too
    assert fake_agnes.api_key not in json.dumps(lines)


def test_text_stays_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(make_settings(tmp_path, None, telegram_token=TOKEN))
    logging.getLogger("atelier.test").warning("calling %s failed", API_URL)

    [line] = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING atelier\.test: calling \S+ failed", line)
    assert "bot***/getMe" in line


def test_the_console_log_file_follows_log_format(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    settings = make_settings(tmp_path, None, log_format="json", console_log_file=str(path), telegram_token=TOKEN)
    assert configure_console_logging(settings) == path
    logging.getLogger("atelier.test").warning("calling %s failed", API_URL)

    [line] = json_lines(path.read_text())
    assert line["event"] == "calling https://api.telegram.org/bot***/getMe failed"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"log_format": "xml"}, "Setting LOG_FORMAT is invalid: "),
        ({"metrics_listen": "9090"}, "Setting METRICS_LISTEN is invalid: '9090' is not an address like 0.0.0.0:8080"),
        (
            {
                "metrics_listen": "0.0.0.0:8443",
                "telegram_token": TOKEN,
                "telegram_webhook_url": "https://bot.example.org/telegram/webhook",
            },
            "Setting METRICS_LISTEN is invalid: TELEGRAM_WEBHOOK_LISTEN listens on 0.0.0.0:8443; pick another port",
        ),
    ],
)
def test_bad_settings_are_refused_by_name(tmp_path: Path, values: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        make_settings(tmp_path, None, **values)
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)
