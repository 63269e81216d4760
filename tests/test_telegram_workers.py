"""Many processes, one Telegram bot (issue 11): webhook workers share everything through the store, and
polling stays one process. Two "workers" are two TelegramAdapter + Atelier cores on one database file
(each its own Store, as two processes would have), each receiving webhook POSTs on its own loopback
port; any update may reach either of them, as behind a load balancer."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.poller import OTHER_DATABASE, PollerLease, lease_name, one_poller
from adapters.telegram.webhook import SECRET_HEADER
from bot.config import Settings
from bot.core import Atelier
from bot.failures import CANCELLED
from bot.jobs import CANCEL_WATCH_SECONDS
from bot.store.jobs import JobStatus
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import poll_until
from tests.fakes.images import png_bytes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_albums import sent_images
from tests.test_telegram_harness import (
    GROUP,
    USER,
    buttons,
    fake_telegram_fixture,  # noqa: F401 - a pytest fixture
    says,
    stop_bot,
    telegram_settings,
    text_of,
    wait_idle,
)

URL = "https://bot.example.org/telegram/hook"
MEMBER = 3003  # someone in GROUP
# What Telegram answers a getUpdates that another poller's request cut short.
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Worker:
    core: Atelier
    adapter: TelegramAdapter

    @property
    def endpoint(self) -> str:
        assert self.adapter.webhook is not None
        return f"http://127.0.0.1:{self.adapter.webhook.port}/telegram/hook"

    async def idle(self, timeout: float = 10.0) -> None:
        await wait_idle(self.adapter, timeout)

    async def stop(self) -> None:
        await stop_bot(self.core, self.adapter)


@dataclass
class Workers:
    a: Worker
    b: Worker
    fake: FakeTelegram
    agnes: FakeAgnes
    http: httpx.AsyncClient

    @property
    def secret(self) -> str:
        """The secret Telegram echoes back: the one the workers registered with setWebhook."""
        return str(self.fake.calls("setWebhook")[-1].params["secret_token"])

    async def post(self, worker: Worker, update: dict[str, Any], secret: str | None = None) -> int:
        """Deliver one update to one worker, as Telegram does (the secret in the header)."""
        headers = {SECRET_HEADER: self.secret if secret is None else secret}
        response = await self.http.post(worker.endpoint, json=update, headers=headers)
        return response.status_code

    async def idle(self) -> None:
        await self.a.idle()
        await self.b.idle()


async def start_worker(settings: Settings) -> Worker:
    core = await Atelier.start(settings)
    adapter = TelegramAdapter(core, settings)
    try:
        await adapter.start()
    except BaseException:
        await core.close()
        raise
    return Worker(core, adapter)


def webhook_settings(tmp_path: Path, agnes: FakeAgnes, fake: FakeTelegram, **overrides: Any) -> Settings:
    """Webhook mode with no TELEGRAM_WEBHOOK_SECRET: the workers must agree on the derived one."""
    options = {
        "telegram_webhook_url": URL,
        "telegram_webhook_listen": "127.0.0.1:0",
        "telegram_album_wait_seconds": 0.3,
        **overrides,
    }
    return telegram_settings(tmp_path, agnes, fake, **options)


@pytest.fixture
async def workers(tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram) -> AsyncIterator[Workers]:
    settings = webhook_settings(tmp_path, fake_agnes, fake_telegram)
    a = await start_worker(settings)
    try:
        b = await start_worker(settings)
    except BaseException:
        await a.stop()
        raise
    async with httpx.AsyncClient(timeout=10.0) as http:
        pair = Workers(a, b, fake_telegram, fake_agnes, http)
        try:
            yield pair
        finally:
            fake_agnes.release()
            await pair.a.stop()  # a test may have restarted one
            await pair.b.stop()


async def used(core: Atelier, scope: str = f"telegram:private:{USER}", user: str = f"telegram:{USER}") -> int:
    return (await core.store.quotas.usage(scope, user)).user_used


# ------------------------------------------------------------------------------- webhook workers


async def test_an_album_split_across_two_workers_is_one_request(workers: Workers) -> None:
    fake = workers.fake
    updates = []
    for index in range(3):
        file_id = fake.add_file(png_bytes(40 + index, 30, (index * 20, 0, 0)))
        caption = "/edit make them snowy" if index == 1 else None
        updates.append(fake.push_message(USER, photo_file_id=file_id, media_group_id="album-7", caption=caption))
    for index, update in enumerate(updates):  # A, B, A: the caption reaches B
        assert await workers.post(workers.a if index % 2 == 0 else workers.b, update) == 200

    photo = await fake.wait_for("sendPhoto", timeout=10)
    await workers.idle()

    assert photo.ok and len(fake.calls("sendPhoto")) == 1  # one result
    assert [image.size for image in sent_images(workers.agnes)] == [(40, 30), (41, 30), (42, 30)]  # one job, all 3
    assert [c for c in fake.calls("sendMessage") if "Nice picture" in text_of(c)] == []  # no part on its own
    rows = await workers.a.core.store.db.fetchall("SELECT status FROM jobs")
    assert [row["status"] for row in rows] == [JobStatus.DONE]
    assert await used(workers.a.core) == 1  # one charge


async def test_a_reply_chain_continues_on_the_other_worker(workers: Workers) -> None:
    fake = workers.fake
    assert await workers.post(workers.a, fake.push_message(GROUP, "/chat my name is Zed", user_id=MEMBER)) == 200
    first = await fake.wait_for("sendMessage", lambda c: c.params.get("chat_id") == GROUP)
    await workers.idle()

    follow_up = fake.push_message(GROUP, "what is my name?", user_id=MEMBER, reply_to=first.result["message_id"])
    assert await workers.post(workers.b, follow_up) == 200
    second = await fake.wait_for("sendMessage", lambda c: c.params.get("chat_id") == GROUP, count=2)
    await workers.idle()

    assert second.params["reply_parameters"]["message_id"] == follow_up["message"]["message_id"]
    (_, asked) = workers.agnes.chat_requests()
    said = [(m["role"], m["content"]) for m in asked.body["messages"] if m["role"] != "system"]
    assert said == [  # B's model call carries the first turn, which only A saw
        ("user", "my name is Zed"),
        ("assistant", workers.agnes.chat_reply),
        ("user", "what is my name?"),
    ]
    shown = fake.message(GROUP, second.result["message_id"])  # once streamed in full
    assert shown is not None and shown["text"] == workers.agnes.chat_reply


async def test_the_edit_prompt_is_answered_through_the_other_worker(workers: Workers) -> None:
    fake = workers.fake
    assert await workers.post(workers.a, fake.push_message(USER, "/imagine a red fox")) == 200
    photo = await fake.wait_for("sendPhoto", timeout=10)
    await workers.idle()
    edit_button = next(data for data in buttons(photo) if data.startswith("atelier:edit:"))

    pressed = fake.push_callback_query(fake.message(USER, photo.result["message_id"]), edit_button)
    assert await workers.post(workers.a, pressed) == 200
    prompt = await fake.wait_for("sendMessage", says("what should I change"))
    assert prompt.params["reply_markup"]["force_reply"] is True
    await workers.idle()

    answer = fake.push_message(USER, "make it blue", reply_to=prompt.result["message_id"])
    assert await workers.post(workers.b, answer) == 200
    edited = await fake.wait_for("sendPhoto", count=2, timeout=10)
    await workers.idle()

    request = workers.agnes.image_requests()[1].body
    assert request["prompt"] == "make it blue" and request["image"][0].startswith("data:image/png")
    assert edited.ok and buttons(edited)[0] != buttons(photo)[0]  # a new job with its own buttons


async def test_cancel_pressed_on_one_worker_stops_the_job_on_the_other(workers: Workers) -> None:
    fake, agnes = workers.fake, workers.agnes
    watch = FakeClock()
    workers.a.core.runner.watch_clock = watch  # what A's watcher of other processes' cancels sleeps on
    agnes.faults = ["timeout"]  # the provider holds the job until released
    assert await workers.post(workers.a, fake.push_message(USER, "/imagine a slow lighthouse")) == 200
    status = await fake.wait_for("sendMessage", says("Working"))
    cancel = buttons(status)[0]
    assert cancel.startswith("atelier:cancel:")

    async def at_provider() -> bool:
        return len(agnes.image_requests()) == 1

    await poll_until(at_provider, what="the job at the provider")
    assert await used(workers.b.core) == 1  # charged while it runs

    pressed = fake.push_callback_query(fake.message(USER, status.result["message_id"]), cancel)
    assert await workers.post(workers.b, pressed) == 200
    answered = await fake.wait_for("answerCallbackQuery")
    await watch.sleeping(lambda remaining: remaining == CANCEL_WATCH_SECONDS)
    watch.advance(CANCEL_WATCH_SECONDS)  # A's watcher looks, and finds the flag B set
    told = await fake.wait_for("sendMessage", says(CANCELLED))
    await workers.idle()

    assert answered.params["text"] == "Cancelling…" and not answered.params.get("show_alert")
    assert told.params["chat_id"] == USER and fake.calls("sendPhoto") == []
    job_id = cancel.split(":")[2]
    record = await workers.b.core.store.jobs.get(job_id)
    assert record is not None and record.status is JobStatus.CANCELLED
    assert await used(workers.a.core) == 0 and await used(workers.b.core) == 0  # no charge
    assert len([c for c in fake.calls("sendMessage") if CANCELLED in text_of(c)]) == 1  # told once


async def test_a_wrong_secret_is_refused_and_the_derived_secret_is_shared(
    workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake, token = workers.fake, workers.fake.token
    first, second = fake.calls("setWebhook")
    secret = first.params["secret_token"]
    assert second.params["secret_token"] == secret  # both workers agree, with nothing configured
    assert first.params["url"] == second.params["url"] == URL
    assert secret and token not in secret and token.split(":")[1] not in secret

    update = fake.push_message(USER, "/help")
    assert await workers.post(workers.a, update, secret="guess") == 403
    assert await workers.post(workers.b, update, secret=token) == 403  # the token is not the secret
    assert await workers.post(workers.b, update, secret=secret) == 200
    await fake.wait_for("sendMessage", says("/imagine"))
    await workers.idle()
    assert len(fake.calls("sendMessage")) == 1  # only the genuine delivery was handled

    # Restarted, a worker derives the same secret again (a rolling restart keeps the others working).
    await workers.a.stop()
    workers.a = await start_worker(workers.a.core.settings)
    assert fake.calls("setWebhook")[-1].params["secret_token"] == secret
    assert token not in caplog.text and secret not in caplog.text


async def test_a_configured_secret_wins(tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram) -> None:
    settings = webhook_settings(tmp_path, fake_agnes, fake_telegram, telegram_webhook_secret="Shared_Secret-9")
    worker = await start_worker(settings)
    try:
        assert fake_telegram.calls("setWebhook")[0].params["secret_token"] == "Shared_Secret-9"
    finally:
        await worker.stop()


# ---------------------------------------------------------------------------------- one poller


async def test_a_second_poller_on_the_same_database_refuses_to_start(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(tmp_path, fake_agnes, fake_telegram)
    first = await start_worker(settings)
    await fake_telegram.wait_for_long_poll(timeout=10)
    polls = len(fake_telegram.calls("getUpdates"))
    with pytest.raises(RuntimeError) as refused:
        await start_worker(settings)
    line = str(refused.value)
    assert line.startswith("Another Atelier process is already polling this Telegram bot")
    assert f"pid {os.getpid()}" in line and "TELEGRAM_WEBHOOK_URL" in line and "\n" not in line
    assert len(fake_telegram.calls("getUpdates")) == polls  # it never polled, so never fought the first

    await first.stop()  # releases the lease
    after = await start_worker(settings)
    try:
        await fake_telegram.wait_for_long_poll(timeout=10)
        fake_telegram.push_message(USER, "/help")
        answer = await fake_telegram.wait_for("sendMessage", says("/imagine"), timeout=10)
        assert answer.ok
    finally:
        await after.stop()


async def test_a_poller_that_stalled_past_its_lease_is_told_when_another_took_over(core: Atelier) -> None:
    clock = FakeClock()
    name = lease_name(123456)
    stalled = PollerLease(core.store.leases, name, "instance-a", clock, ttl=30.0)
    other = PollerLease(core.store.leases, name, "instance-b", clock, ttl=30.0)
    await stalled.acquire()
    with pytest.raises(RuntimeError, match="already polling this Telegram bot"):
        await other.acquire()
    clock.advance(31.0)  # A missed every beat: its lease expired, and B starts
    await other.acquire()

    keeping = asyncio.ensure_future(stalled.keep(every=10.0))
    await clock.sleeping()
    clock.advance(10.0)
    line = await asyncio.wait_for(keeping, 5)
    assert line == one_poller("another process on this database")
    assert (holder := await core.store.leases.holder(name)) is not None and holder.owner == "instance-b"


async def test_a_conflict_from_telegram_ends_polling_with_the_clear_line(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    fake_telegram.fail_next("getUpdates", error_code=409, description=CONFLICT)  # a poller on another database
    worker = await start_worker(telegram_settings(tmp_path, fake_agnes, fake_telegram))
    try:
        failure = worker.adapter.failure
        assert failure is not None
        line = await asyncio.wait_for(asyncio.shield(failure), 10)
        assert line == one_poller(OTHER_DATABASE)
        await worker.adapter.stop_intake()  # waits for polling to have stopped on its own
        updater = worker.adapter.application.updater
        assert updater is not None and not updater.running
        assert [c.status for c in fake_telegram.calls("getUpdates")] == [409]  # no retry, no confirming call
        assert any(line in record.getMessage() for record in caplog.records if record.levelno == logging.ERROR)
    finally:
        await worker.stop()


async def atelier_run(tmp_path: Path, agnes: FakeAgnes, fake: FakeTelegram) -> asyncio.subprocess.Process:
    """`python -m bot run` as an operator runs it (see tests/test_telegram_cli.py), polling FakeTelegram."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_BASE_URL": fake.base_url,
        "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        "AGNES_API_KEY": agnes.api_key,
        "AGNES_BASE_URL": agnes.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'atelier.db'}",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip


async def outcome(process: asyncio.subprocess.Process, timeout: float = 30) -> tuple[int | None, str, str]:
    """(exit status, stderr, stdout + stderr) once it ends on its own; killed if it does not."""
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, err.decode(), (out + err).decode()


async def test_atelier_run_exits_with_status_1_on_a_conflict(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail_next("getUpdates", error_code=409, description=CONFLICT)
    status, err, logs = await outcome(await atelier_run(tmp_path, fake_agnes, fake_telegram))

    assert status == 1, logs
    assert f"atelier: {one_poller(OTHER_DATABASE)}" in err.splitlines()
    assert fake_telegram.token not in logs and "Traceback" not in logs


async def test_atelier_run_beside_a_poller_exits_with_status_1_naming_it(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    first = await start_worker(telegram_settings(tmp_path, fake_agnes, fake_telegram))
    try:
        status, err, logs = await outcome(await atelier_run(tmp_path, fake_agnes, fake_telegram))
        assert first.adapter.failure is not None and not first.adapter.failure.done()  # the first polls on
    finally:
        await first.stop()

    assert status == 1, logs
    (line,) = [line for line in err.splitlines() if line.startswith("atelier: ")]
    assert line.startswith("atelier: could not start telegram: Another Atelier process is already polling")
    assert f"pid {os.getpid()}" in line
    assert fake_telegram.token not in logs and "Traceback" not in logs


async def test_a_poller_killed_outright_is_replaced_at_once(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    """Killed (no lease released), then restarted well within the lease's TTL: its pid is gone on this
    host, so the new poller takes over instead of refusing."""
    process = await atelier_run(tmp_path, fake_agnes, fake_telegram)
    try:
        await fake_telegram.wait_for_long_poll(timeout=15)
    finally:
        process.kill()
        await process.wait()
    restarted = await start_worker(telegram_settings(tmp_path, fake_agnes, fake_telegram))
    try:
        fake_telegram.push_message(USER, "/help")
        answer = await fake_telegram.wait_for("sendMessage", says("/imagine"), timeout=10)
        assert answer.ok and restarted.adapter.failure is not None and not restarted.adapter.failure.done()
    finally:
        await restarted.stop()
