"""A hostile or broken upstream, through the whole job path: it echoes our key, answers forever, loops
redirects, asks us to wait a day, or is not there at all. Each ends in a plain message a user can act
on, a refund, and nothing secret shown, stored or logged."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.core import Atelier
from bot.providers.registry import build_catalogue, build_http_client
from tests.conftest import make_settings
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.loopback import closed_port
from tests.recording import RecordingReply, make_request, say
from tests.test_console import run_cli
from tests.test_core_faults import imagine_once as imagine

KEY = "sk-live-4f9a0c2e7b1d4e8f9a0b"
CAP = 2 * 1024 * 1024


@pytest.fixture
async def hostile() -> AsyncIterator[FakeAgnes]:
    server = await FakeAgnes(api_key=KEY).start()
    yield server
    await server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def start_core(settings, clock: FakeClock) -> AsyncIterator[Atelier]:
    async with build_http_client(settings) as http, clock.autojump():
        atelier = await Atelier.start(settings, build_catalogue(settings, http, clock))
        try:
            yield atelier
        finally:
            await atelier.close()


@pytest.fixture
async def core(tmp_path: Path, hostile: FakeAgnes, clock: FakeClock) -> AsyncIterator[Atelier]:
    settings = make_settings(tmp_path, hostile, provider_max_response_bytes=CAP, provider_deadline_seconds=5.0)
    async for atelier in start_core(settings, clock):
        yield atelier


async def assert_refunded(core: Atelier) -> None:
    usage = await core.store.quotas.usage("test:guild:g1", "test:u1")
    assert (usage.user_used, usage.scope_used) == (0, 0)


def files_under(root: Path) -> list[bytes]:
    return [path.read_bytes() for path in root.rglob("*") if path.is_file()]


def secret_forms(key: str) -> list[str]:
    return [key, base64.b64encode(key.encode()).decode().rstrip("="), quote(key, safe="")]


# Item 8: an upstream that echoes the key.


async def test_an_echoed_key_is_never_shown_stored_or_logged(
    core: Atelier, hostile: FakeAgnes, caplog: pytest.LogCaptureFixture
) -> None:
    hostile.faults = ["echo_key"]
    with caplog.at_level(logging.INFO):
        reply = await imagine(core)
    [message] = reply.errors
    assert message.startswith("The provider could not accept this request (HTTP 400 Bad Request).")
    assert "bad request for key" not in message  # the upstream's body is never shown
    [row] = await core.store.db.fetchall("SELECT status, result FROM jobs")
    assert row["status"] == "failed" and "bad request for key" in row["result"]  # the operator's detail
    for form in secret_forms(KEY):
        assert form not in message and form not in row["result"] and form not in caplog.text
    await assert_refunded(core)


async def test_an_echoed_key_in_a_chat_error_is_never_shown_or_logged(
    core: Atelier, hostile: FakeAgnes, caplog: pytest.LogCaptureFixture
) -> None:
    hostile.chat_faults = ["echo_key"]
    reply = RecordingReply()
    with caplog.at_level(logging.INFO):
        await say(core, "/chat hello", make_request(), reply)
    [message] = reply.errors
    assert "could not accept this request" in message and "bad request" not in message
    for form in secret_forms(KEY):
        assert form not in message and form not in caplog.text


async def test_console_shows_stores_and_logs_no_echoed_key(tmp_path: Path, hostile: FakeAgnes) -> None:
    hostile.faults = ["echo_key"]
    env = {"AGNES_API_KEY": KEY, "AGNES_BASE_URL": hostile.base_url, "PROVIDER_MAX_RETRIES": "0"}
    code, out, err = await run_cli(["console"], "/imagine a lighthouse\n", env, tmp_path)
    assert code == 0, err
    assert "could not accept this request (HTTP 400 Bad Request)" in out
    assert "Traceback" not in out + err
    written = files_under(tmp_path)  # the database, the log file
    assert written, "the console wrote no database"
    for form in secret_forms(KEY):
        assert form not in out and form not in err
        assert all(form.encode() not in data for data in written)
    assert any(b"bad request for key ***" in data for data in written)  # jobs.result kept the detail, masked


# Item 9: endless answers are cut off at the cap.


async def test_an_endless_json_answer_is_cut_off_cleanly(core: Atelier, hostile: FakeAgnes) -> None:
    hostile.faults = ["endless"]
    reply = await imagine(core)
    [message] = reply.errors
    assert "far more data than expected" in message and "Nothing was charged" in message
    assert len(hostile.image_requests()) == 1  # not asked again for another endless answer
    assert hostile.endless_sent < 16 * CAP  # the fake could only get socket buffers beyond the cap out
    await assert_refunded(core)


@pytest.mark.parametrize("fault", ["endless_line", "endless_events"])
async def test_an_endless_chat_stream_is_cut_off_cleanly(core: Atelier, hostile: FakeAgnes, fault: str) -> None:
    hostile.chat_faults = [fault]
    reply = RecordingReply()
    await say(core, "/chat hello", make_request(), reply)
    [message] = reply.errors
    assert "far more data than expected" in message
    assert hostile.endless_sent < 16 * CAP
    assert await core.store.conversations.history("test:guild:g1:main") == []


# Item 17: messages that say what happened.


async def test_a_redirect_loop_says_the_result_link_could_not_be_followed(core: Atelier, hostile: FakeAgnes) -> None:
    hostile.output_mode, hostile.faults = "url", ["redirect_loop"]
    reply = await imagine(core)
    [message] = reply.errors
    assert "result link could not be followed" in message and "Something went wrong" not in message
    await assert_refunded(core)


async def test_retry_after_a_day_says_the_real_wait(core: Atelier, hostile: FakeAgnes, clock: FakeClock) -> None:
    hostile.faults, hostile.retry_after = [429], "86400"
    reply = await imagine(core)
    [message] = reply.errors
    assert "in about 24 hours" in message and "busy" in message
    assert clock.sleeps == [] and len(hostile.image_requests()) == 1  # a day is past the deadline: no wait
    await assert_refunded(core)


async def test_a_chat_told_to_wait_a_day_says_so(core: Atelier, hostile: FakeAgnes) -> None:
    hostile.chat_faults, hostile.retry_after = [429], "86400"
    reply = RecordingReply()
    await say(core, "/chat hello", make_request(), reply)
    assert reply.errors == ["The provider is busy right now. Please try again in about 24 hours."]


# Item 22: an unreachable provider is not a slow one.


async def test_an_unreachable_provider_says_it_could_not_be_reached(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port()
    settings = make_settings(tmp_path, None, agnes_api_key=KEY, agnes_base_url=f"http://127.0.0.1:{port}/v1")
    with caplog.at_level(logging.INFO):
        async for core in start_core(settings, clock):
            reply = await imagine(core)
            chat = RecordingReply()
            await say(core, "/chat hello", make_request(), chat)
            await assert_refunded(core)
    [message] = reply.errors
    assert "could not be reached" in message and "too long" not in message
    [chat_message] = chat.errors
    assert "could not be reached" in chat_message and "too long" not in chat_message
    assert len(clock.sleeps) == 2  # refused connections are retried (PROVIDER_MAX_RETRIES=2): nothing was sent
    assert f"could not connect to 127.0.0.1:{port}" in caplog.text  # the operator learns which host
    assert KEY not in caplog.text
