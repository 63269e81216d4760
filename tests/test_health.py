"""/healthz (METRICS_LISTEN): 200 while the store answers and every started platform adapter is alive, 503
once one is not. The real Telegram and Discord adapters going down flip it; `atelier run` serves it; and the
image's HEALTHCHECK command, run as the Dockerfile writes it, reads it."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.core import Atelier
from bot.health import HealthServer
from bot.metrics import Metrics
from bot.store import Store
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import FakeDiscord, poll_until
from tests.fakes.loopback import closed_port
from tests.fakes.telegram_server import FakeTelegram
from tests.metrics_kit import health, scrape, serving
from tests.process_env import ROOT, process_env, telegram_bot_env
from tests.test_discord_harness import fake_discord as fake_discord
from tests.test_discord_harness import running
from tests.test_telegram_harness import USER, fake_telegram_fixture, running_bot  # noqa: F401 - a pytest fixture

CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"


@dataclass
class Switch:
    """A started platform whose liveness the test decides (bot.health.Live is a port we own)."""

    name: str
    up: bool = True

    def alive(self) -> bool:
        return self.up


async def test_healthz_is_200_while_all_is_alive_and_503_when_an_adapter_dies(core: Atelier) -> None:
    telegram, discord = Switch("telegram"), Switch("discord")
    async with serving(core, [telegram, discord]) as server:
        assert await health(server) == (200, {"status": "ok", "store": "ok", "telegram": "ok", "discord": "ok"})
        discord.up = False
        down = {"status": "unhealthy", "store": "ok", "telegram": "ok", "discord": "down"}
        assert await health(server) == (503, down)
        discord.up = True  # discord.py reconnected
        assert (await health(server))[0] == 200


async def test_healthz_is_503_when_the_store_does_not_answer(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "atelier.db")
    server = HealthServer(store, Metrics(), [])
    await server.start("127.0.0.1:0")
    try:
        assert await health(server) == (200, {"status": "ok", "store": "ok"})
        await store.close()
        assert await health(server) == (503, {"status": "unhealthy", "store": "down"})
    finally:
        await server.stop()


async def test_telegram_meeting_another_poller_turns_healthz_503_and_its_calls_are_counted(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as tg, serving(tg.core, [tg.adapter]) as server:
        assert await health(server) == (200, {"status": "ok", "store": "ok", "telegram": "ok"})
        fake_telegram.fail_next("sendMessage")  # flood control: 429, retry after 1 s (the outbox waits it out)
        fake_telegram.fail_next("getUpdates", error_code=409, description=CONFLICT)  # another poller took over
        fake_telegram.push_message(USER, "/help")
        await fake_telegram.wait_for("sendMessage", lambda call: call.ok, timeout=10)
        assert tg.adapter.failure is not None
        await asyncio.wait_for(asyncio.shield(tg.adapter.failure), 10)

        assert await health(server) == (503, {"status": "unhealthy", "store": "ok", "telegram": "down"})
        samples = await scrape(server)
    calls = {
        status: samples.value("atelier_platform_requests_total", platform="telegram", status=status)
        for status in ("200", "409", "429")
    }
    assert calls["429"] == 1 and calls["409"] == 1
    ok_calls = [call for call in fake_telegram.calls() if call.ok]
    assert calls["200"] >= len(ok_calls) - 1  # every answered call (the last getUpdates may still be open)


async def test_telegram_in_webhook_mode_is_alive_while_its_receiver_listens(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    webhook = {
        "telegram_webhook_url": "https://bot.example.org/telegram/hook",
        "telegram_webhook_listen": "127.0.0.1:0",
    }
    async with running_bot(tmp_path, fake_agnes, fake_telegram, **webhook) as tg:
        async with serving(tg.core, [tg.adapter]) as server:
            assert await health(server) == (200, {"status": "ok", "store": "ok", "telegram": "ok"})
            await tg.adapter.stop_intake()  # as at a shutdown: the receiver stops listening
            assert await health(server) == (503, {"status": "unhealthy", "store": "ok", "telegram": "down"})


async def test_discord_closing_the_gateway_for_good_turns_healthz_503(
    tmp_path: Path,
    fake_agnes: FakeAgnes,
    fake_discord: FakeDiscord,
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord) as bot, serving(bot.core, [bot.adapter]) as server:
        assert await health(server) == (200, {"status": "ok", "store": "ok", "discord": "ok"})
        rest_calls = (await scrape(server)).value("atelier_platform_requests_total", platform="discord", status="200")
        assert rest_calls >= 1  # logging in, the gateway URL, the command sync

        await fake_discord.drop_connection(code=4004)  # "Authentication failed": discord.py does not reconnect

        async def unhealthy() -> bool:
            return await health(server) == (503, {"status": "unhealthy", "store": "ok", "discord": "down"})

        await poll_until(unhealthy, 10, what="/healthz 503 once Discord closed the gateway for good")


# ------------------------------------------------------------------------------- the image


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's exec-form CMD, with this interpreter for the image's `python`."""
    match = re.search(r"^HEALTHCHECK\s.*\bCMD\s+(\[.*\])\s*$", dockerfile(), re.MULTILINE)
    assert match, "the Dockerfile has an exec-form HEALTHCHECK"
    command = json.loads(match.group(1))
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


async def healthcheck(listen: str | None) -> int:
    """The exit status of the image's HEALTHCHECK with METRICS_LISTEN set to `listen` (None: unset)."""
    env = process_env()
    if listen is not None:
        env["METRICS_LISTEN"] = listen
    process = await asyncio.create_subprocess_exec(
        *healthcheck_command(), env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), 30)


def image_default(name: str) -> str:
    match = re.search(rf"\b{name}=(\S+)", dockerfile())
    assert match, f"the Dockerfile sets {name}"
    return match.group(1)


async def test_the_images_healthcheck_passes_on_200_and_fails_on_503_or_silence(core: Atelier) -> None:
    telegram = Switch("telegram")
    async with serving(core, [telegram]) as server:
        listen = f"0.0.0.0:{server.port}"  # as the image sets it: the check asks 127.0.0.1
        assert await healthcheck(listen) == 0
        telegram.up = False
        assert await healthcheck(listen) == 1
    assert await healthcheck(f"127.0.0.1:{closed_port()}") == 1  # nothing listens: the bot is not serving
    assert await healthcheck(None) == 0  # METRICS_LISTEN unset by the operator: nothing to ask


def test_the_image_serves_health_on_an_exposed_port_and_keeps_secrets_out_of_the_build() -> None:
    listen = image_default("METRICS_LISTEN")
    port = listen.rpartition(":")[2]
    assert re.search(rf"^EXPOSE\s.*\b{port}\b", dockerfile(), re.MULTILINE)
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    ignored = [line for line in ignored if not line.startswith("#")]

    def excluded(path: str) -> bool:
        return any(fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/") for pattern in ignored)

    assert excluded(".env") and excluded(".venv") and excluded(".venv/bin/python") and excluded("data/atelier.db")
    copied = [part for line in re.findall(r"^COPY\s+(.+)$", dockerfile(), re.MULTILINE) for part in line.split()[:-1]]
    assert copied and not [path for path in copied if excluded(path)]


async def test_atelier_run_serves_healthz_logs_json_lines_and_stops_serving_on_sigterm(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    listen = f"127.0.0.1:{closed_port()}"
    env = telegram_bot_env(tmp_path, fake_agnes, fake_telegram, METRICS_LISTEN=listen, LOG_FORMAT="json")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await fake_telegram.wait_for_long_poll(timeout=30)  # started: polling

        async def passing() -> bool:
            return await healthcheck(listen) == 0

        await poll_until(passing, 30, interval=0.2, what="the HEALTHCHECK passing against `atelier run`")
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert await healthcheck(listen) == 1  # stopped: nothing answers any more
    lines = [json.loads(line) for line in err.decode().splitlines()]  # every line of the log is one JSON object
    events = [line["event"] for line in lines]
    assert f"health and metrics on {listen} (/healthz, /metrics)" in events
    assert "telegram adapter started" in events
    assert fake_telegram.token not in err.decode()
