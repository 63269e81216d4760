"""`atelier doctor` as an operator runs it after filling `.env`: against the fake providers, Telegram and
Discord, every check green with good settings, and one red line naming the setting for each thing wrong."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.cli import main
from adapters.doctor import run_doctor
from adapters.doctor.core import database_lines
from bot.config import load_settings
from bot.store import Store
from tests.fakes.a1111_server import FakeA1111
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.apiframe_server import FakeApiframe
from tests.fakes.discord_server import FakeDiscord, Permission
from tests.fakes.loopback import closed_port, serve
from tests.fakes.moderation_server import FakeModeration
from tests.fakes.openrouter_server import FakeOpenRouter
from tests.fakes.relay_server import FakeRelay
from tests.fakes.telegram_server import FakeTelegram
from tests.process_env import telegram_bot_env
from tests.test_discord_harness import fake_discord  # noqa: F401 - a pytest fixture
from tests.test_telegram_harness import BOT_NAME, USER, fake_telegram_fixture  # noqa: F401 - a pytest fixture

WRONG_KEY = "wrong-key-0123456789abcdef"


@dataclass
class Fakes:
    agnes: FakeAgnes
    agnic: FakeOpenRouter
    apiframe: FakeApiframe
    relay: FakeRelay
    a1111: FakeA1111
    moderation: FakeModeration
    telegram: FakeTelegram
    discord: FakeDiscord


@pytest.fixture
async def fakes(
    fake_agnes: FakeAgnes,
    fake_telegram: FakeTelegram,
    fake_discord: FakeDiscord,  # noqa: F811 - the fixture imported above
) -> AsyncIterator[Fakes]:
    agnic = await FakeOpenRouter().start()
    apiframe = await FakeApiframe().start()
    relay = await FakeRelay().start()
    a1111 = await FakeA1111(username="painter", password="a1111-s3cret-pass").start()
    moderation = await FakeModeration().start()
    yield Fakes(fake_agnes, agnic, apiframe, relay, a1111, moderation, fake_telegram, fake_discord)
    for fake in (agnic, apiframe, relay, a1111, moderation):
        await fake.stop()


def settings_for(tmp_path: Path, fakes: Fakes, **overrides: Any) -> dict[str, Any]:
    """Good settings for every provider and both platforms; APIFRAME webhooks on a free loopback port."""
    port = closed_port()
    return {
        "_env_file": None,
        "database_url": f"sqlite:///{tmp_path / 'atelier.db'}",
        "agnes_api_key": fakes.agnes.api_key,
        "agnes_base_url": fakes.agnes.base_url,
        "agnic_api_key": fakes.agnic.api_key,
        "agnic_base_url": fakes.agnic.base_url,
        "apiframe_api_key": fakes.apiframe.api_key,
        "apiframe_base_url": fakes.apiframe.base_url,
        "public_base_url": f"http://127.0.0.1:{port}",
        "webhook_listen": f"127.0.0.1:{port}",
        "relay_api_key": fakes.relay.api_key,
        "relay_base_url": fakes.relay.base_url,
        "a1111_base_url": fakes.a1111.base_url,
        "a1111_username": fakes.a1111.username,
        "a1111_password": fakes.a1111.password,
        "moderation_api_url": fakes.moderation.base_url,
        "moderation_api_key": fakes.moderation.api_key,
        "telegram_token": fakes.telegram.token,
        "telegram_base_url": fakes.telegram.base_url,
        "telegram_base_file_url": fakes.telegram.base_file_url,
        "discord_token": fakes.discord.token,
        **overrides,
    }


def secrets_in(values: dict[str, Any]) -> list[str]:
    return [str(values[name]) for name in values if name.endswith(("_api_key", "_token", "_password"))]


async def doctor(values: dict[str, Any]) -> tuple[int, list[str]]:
    lines: list[str] = []
    status = await run_doctor(load_settings(**values), out=lines.append)
    printed = "\n".join(lines)
    for secret in [*secrets_in(values), WRONG_KEY]:
        assert secret not in printed
    return status, lines


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("ok ")]


async def test_good_settings_are_all_green(tmp_path: Path, fakes: Fakes) -> None:
    status, lines = await doctor(settings_for(tmp_path, fakes))

    assert status == 0, lines
    assert failures(lines) == []
    assert [line.split(":")[0] for line in lines] == [
        "ok   settings",
        "ok   database",
        "ok   models",
        "ok   provider agnes",
        "ok   provider agnic",
        "ok   provider apiframe",
        "ok   provider relay",
        "ok   provider a1111",
        "ok   moderation",
        "ok   telegram",
        "ok   discord",
        "ok   discord intents",
        "ok   discord permissions",
        "ok   apiframe webhook",
    ]
    text = "\n".join(lines)
    assert "not created yet; `atelier run` creates it at start" in text  # and the doctor did not create it
    assert not (tmp_path / "atelier.db").exists()
    assert "provider agnes: key accepted, 2 models listed" in text
    assert "provider apiframe: key accepted, 12000 credits left" in text
    assert "provider relay: key accepted (an inference key may not read the balance)" in text
    assert "provider a1111: 1 checkpoint on the server" in text
    assert f"telegram: @{BOT_NAME}, token accepted" in text
    assert "discord permissions: 1 server, each granting what the bot needs" in text
    assert "reaches WEBHOOK_LISTEN" in text
    # Nothing billable was asked for: no generation, chat, submit or poll reached any provider.
    assert not fakes.agnes.image_requests() and not fakes.agnes.chat_requests()
    assert not fakes.relay.submits() and not fakes.apiframe.tasks and not fakes.a1111.generating
    assert not fakes.moderation.moderation_requests()
    assert [r.path for r in fakes.agnic.requests] == ["/v1/key", "/v1/models"]  # Agnic has no /key


async def test_an_openrouter_key_is_checked_by_its_key_record(tmp_path: Path, fakes: Fakes) -> None:
    fakes.agnic.key_route = True  # OpenRouter itself, whose model list needs no key
    status, lines = await doctor(settings_for(tmp_path, fakes))
    assert status == 0
    assert "ok   provider agnic: key accepted, 4.8985 credits left on it" in lines

    status, lines = await doctor(settings_for(tmp_path, fakes, agnic_api_key=WRONG_KEY))
    assert failures(lines) == [
        "FAIL provider agnic: the credentials were refused (HTTP 401 Unauthorized: 401 No auth credentials found): "
        "check AGNIC_API_KEY"
    ]
    assert all(r.path == "/v1/key" for r in fakes.agnic.requests)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"agnes_api_key": WRONG_KEY}, "FAIL provider agnes: the credentials were refused (HTTP 401 Unauthorized: "
         "invalid_api_key invalid_request_error Invalid API key): check AGNES_API_KEY"),
        ({"agnic_api_key": WRONG_KEY}, "FAIL provider agnic: the credentials were refused (HTTP 401 Unauthorized: "
         "401 Invalid token): check AGNIC_API_KEY"),
        ({"apiframe_api_key": WRONG_KEY}, "FAIL provider apiframe: the credentials were refused "
         "(HTTP 401 Unauthorized): check APIFRAME_API_KEY (and APIFRAME_AUTH_SCHEME)"),
        ({"relay_api_key": WRONG_KEY}, "FAIL provider relay: the credentials were refused (HTTP 401 Unauthorized: "
         "UNAUTHORIZED invalid_request_error Invalid API key): check RELAY_API_KEY"),
        ({"a1111_password": WRONG_KEY}, "FAIL provider a1111: the credentials were refused "
         "(HTTP 401 Unauthorized: Not authenticated): check A1111_USERNAME / A1111_PASSWORD"),
        # The service quotes the key it was sent: the line masks it.
        ({"moderation_api_key": WRONG_KEY}, "FAIL moderation: the credentials were refused (HTTP 401 Unauthorized: "
         "invalid_api_key invalid_request_error Incorrect API key provided: ***.): check MODERATION_API_KEY"),
    ],
)  # fmt: skip
async def test_a_wrong_key_is_one_red_line_naming_its_setting(
    tmp_path: Path, fakes: Fakes, override: dict[str, str], expected: str
) -> None:
    status, lines = await doctor(settings_for(tmp_path, fakes, **override))

    assert status == 1
    assert failures(lines) == [expected]


async def test_an_unreachable_provider_names_its_address_setting(tmp_path: Path, fakes: Fakes) -> None:
    port = closed_port()
    status, lines = await doctor(settings_for(tmp_path, fakes, relay_base_url=f"http://127.0.0.1:{port}"))

    assert status == 1
    [line] = failures(lines)
    assert line.startswith(f"FAIL provider relay: could not connect to 127.0.0.1:{port} (")
    assert line.endswith("): check RELAY_BASE_URL and the network")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"telegram_token": "123456:WRONG-token-0123456789abcdef"},
         "FAIL telegram: Telegram refused the token: check TELEGRAM_TOKEN (BotFather, /token)"),
        ({"discord_token": "wrong.discord.token-0123456789"},
         "FAIL discord: Discord refused the token: check DISCORD_TOKEN (Developer Portal, Bot, Reset Token)"),
    ],
)  # fmt: skip
async def test_an_invalid_platform_token_is_one_red_line(
    tmp_path: Path, fakes: Fakes, override: dict[str, str], expected: str
) -> None:
    status, lines = await doctor(settings_for(tmp_path, fakes, **override))

    assert status == 1
    assert failures(lines) == [expected]


async def test_an_unwritable_database_names_database_url(tmp_path: Path, fakes: Fakes) -> None:
    (tmp_path / "taken").write_text("a file where the data folder should be")
    status, lines = await doctor(settings_for(tmp_path, fakes, database_url=f"sqlite:///{tmp_path}/taken/atelier.db"))

    assert status == 1
    assert failures(lines) == [
        f"FAIL database: Setting DATABASE_URL is invalid: cannot create the folder {tmp_path}/taken: "
        "a file has that name"
    ]


async def test_a_database_newer_than_the_code_is_red_and_an_older_one_is_left_alone(
    tmp_path: Path, fakes: Fakes
) -> None:
    path = tmp_path / "atelier.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version=999")
    status, lines = await doctor(settings_for(tmp_path, fakes))
    assert status == 1
    [line] = failures(lines)
    assert line.startswith(f"FAIL database: {path} has schema 999, newer than this Atelier knows (")
    assert line.endswith("): upgrade Atelier, or set DATABASE_URL to another database")

    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version=1")
    status, lines = await doctor(settings_for(tmp_path, fakes))
    assert status == 0
    assert any(" schema 1 of " in line and "`atelier run` migrates it at start" in line for line in lines)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 1  # not migrated by the doctor


async def test_a_postgresql_database_is_read_not_migrated(pg_url: str) -> None:
    settings = load_settings(_env_file=None, database_url=pg_url)
    [line] = await database_lines(settings)
    assert line.render([]) == f"ok   database: {pg_url}: no Atelier tables yet; `atelier run` creates them at start"

    store = await Store.open(pg_url)
    await store.close()
    [line] = await database_lines(settings)
    assert line.ok and line.text.endswith(", up to date")

    port = closed_port()
    unreachable = f"postgresql://atelier:hunter2-secret@127.0.0.1:{port}/atelier"
    [line] = await database_lines(load_settings(_env_file=None, database_url=unreachable))
    assert line.render(["hunter2-secret"]) == (
        f"FAIL database: cannot use the PostgreSQL database postgresql://atelier:***@127.0.0.1:{port}/atelier: "
        "the server refused the connection (is PostgreSQL running there?): check DATABASE_URL"
    )
    assert "hunter2" not in line.text  # masked before the last-line redaction


async def test_discord_without_the_intent_or_a_permission_says_what_to_turn_on(tmp_path: Path, fakes: Fakes) -> None:
    fakes.discord.privileged_intents = frozenset()
    guild = fakes.discord.add_guild("Painters Guild")
    for role in fakes.discord.roles[guild].values():  # neither @everyone nor the bot's role grants these two
        role["permissions"] = str(
            int(role["permissions"]) & ~(Permission.ATTACH_FILES | Permission.CREATE_PUBLIC_THREADS)
        )

    status, lines = await doctor(settings_for(tmp_path, fakes))

    assert status == 1
    assert failures(lines) == [
        "FAIL discord intents: the Message Content intent is off (Developer Portal, Bot, Privileged Gateway "
        "Intents): turn it on, or set DISCORD_MESSAGE_CONTENT=false",
        "FAIL discord permissions: Painters Guild lacks Attach Files, Create Public Threads: grant them to the bot's "
        "role, or invite it again with permissions=311385229312 (README, Discord)",
    ]
    status, lines = await doctor(settings_for(tmp_path, fakes, discord_message_content=False))
    assert "ok   discord intents: Message Content not requested" in "\n".join(lines)


async def test_a_webhook_url_that_does_not_lead_to_the_listener_is_red(tmp_path: Path, fakes: Fakes) -> None:
    async def bad_gateway(request: web.Request) -> web.Response:
        return web.Response(status=502, text="no upstream")

    proxy = web.Application()
    proxy.router.add_route("*", "/{tail:.*}", bad_gateway)
    runner, port = await serve(proxy)
    try:
        values = settings_for(tmp_path, fakes, public_base_url=f"http://127.0.0.1:{port}")
        status, lines = await doctor(values)
    finally:
        await runner.cleanup()

    assert status == 1
    assert failures(lines) == [
        f"FAIL apiframe webhook: http://127.0.0.1:{port}/webhooks/apiframe answered HTTP 502, but the request never "
        f"reached WEBHOOK_LISTEN ({values['webhook_listen']}/webhooks/apiframe): point PUBLIC_BASE_URL's proxy there"
    ]


async def test_telegram_webhook_mode_checks_the_url_and_what_telegram_says(tmp_path: Path, fakes: Fakes) -> None:
    port = closed_port()
    url = f"https://127.0.0.1:{port}/telegram"
    values = settings_for(tmp_path, fakes, telegram_webhook_url=url, telegram_webhook_listen="127.0.0.1:0")

    status, lines = await doctor(values)

    assert status == 1
    assert "ok   telegram deliveries: no webhook set at Telegram yet; `atelier run` sets TELEGRAM_WEBHOOK_URL" in lines
    [line] = failures(lines)
    assert line.startswith(f"FAIL telegram webhook: {url} cannot be reached from here (could not connect to ")
    assert line.endswith("): check TELEGRAM_WEBHOOK_URL")

    async with httpx.AsyncClient() as client:  # as `atelier run` left it, and Telegram failing to deliver since
        await client.post(f"{fakes.telegram.base_url}{fakes.telegram.token}/setWebhook", json={"url": url})
    fakes.telegram.fail_webhook_deliveries("Connection refused")
    fakes.telegram.push_message(USER, "hello?")
    status, lines = await doctor(values)
    assert status == 1
    assert [line.split(" (")[0] for line in failures(lines)] == [
        "FAIL telegram deliveries: Telegram cannot deliver",
        f"FAIL telegram webhook: {url} cannot be reached from here",
    ]
    assert failures(lines)[0].endswith(": Connection refused): check TELEGRAM_WEBHOOK_URL and its proxy")


def test_settings_that_do_not_parse_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("MAX_PROMPT_CHARS", "plenty")

    assert main(["doctor"]) == 2
    assert capsys.readouterr().out.startswith("FAIL settings: Setting MAX_PROMPT_CHARS is invalid: ")


async def test_atelier_doctor_as_a_command(tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram) -> None:
    env = telegram_bot_env(tmp_path, fake_agnes, fake_telegram)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "doctor",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, (out + err).decode()
    assert out.decode().splitlines()[-1] == f"ok   telegram: @{BOT_NAME}, token accepted"
    assert err == b""
    assert fake_telegram.token not in out.decode() and fake_agnes.api_key not in out.decode()
