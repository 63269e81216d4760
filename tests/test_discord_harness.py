"""The harness for Discord tests: the real discord.py client, driven through Atelier's DiscordAdapter,
against FakeDiscord (REST + gateway) and FakeAgnes. Also the lifecycle tests: sync, intents, stop."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import discord
import pytest
from PIL import Image

from adapters.discord.adapter import DiscordAdapter, DiscordStartError
from adapters.discord.token_life import USABLE_TOKEN_SECONDS
from bot.clock import MONOTONIC, Clock
from bot.core import Atelier
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import (
    MESSAGE_FLAG_EPHEMERAL,
    FakeDiscord,
    FakeInteraction,
    RecordedRequest,
    poll_until,
)

TIMEOUT = 8.0
T = TypeVar("T")


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    with fake.patched_discord():
        yield fake
    await fake.stop()
    assert not fake.internal_errors


class Bot:
    """One running Atelier (core + Discord adapter) on a database that outlives it."""

    def __init__(self, core: Atelier, adapter: DiscordAdapter) -> None:
        self.core = core
        self.adapter = adapter

    @property
    def client(self) -> discord.Client:
        assert self.adapter.client is not None
        return self.adapter.client


@asynccontextmanager
async def running(
    tmp_path: Path,
    agnes: FakeAgnes,
    fake: FakeDiscord,
    *,
    clock: Clock = MONOTONIC,
    token_seconds: float = USABLE_TOKEN_SECONDS,
    **overrides: Any,
) -> AsyncIterator[Bot]:
    """Atelier on the fake Discord; message-edit pacing and interaction tokens' age read `clock`."""
    values: dict[str, Any] = {"discord_token": fake.token, "discord_guild_ids": str(fake.guild_id)}
    settings = make_settings(tmp_path, agnes, **(values | overrides))
    core = await Atelier.start(settings)
    adapter = DiscordAdapter(core, settings, guild_ready_timeout=0.05, clock=clock, token_seconds=token_seconds)
    try:
        await adapter.start()
        yield Bot(core, adapter)
    finally:
        await adapter.stop()
        await core.close(drain_seconds=2.0)


@pytest.fixture
async def bot(tmp_path: Path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord) -> AsyncIterator[Bot]:
    async with running(tmp_path, fake_agnes, fake_discord) as started:
        yield started


# ------------------------------------------------------------------------------------------ helpers


def png_of(size: tuple[int, int] = (40, 30), color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def button_ids(payload: dict[str, Any] | None) -> list[str]:
    rows = (payload or {}).get("components") or []
    return [c["custom_id"] for row in rows for c in row.get("components", []) if "custom_id" in c]


def is_ephemeral(request: RecordedRequest) -> bool:
    return bool(int((request.json or {}).get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)


async def ephemeral_followup(fake: FakeDiscord, inter: FakeInteraction) -> RecordedRequest:
    return await fake.wait_until(
        lambda: next((r for r in fake.followups(inter) if is_ephemeral(r)), None),
        TIMEOUT,
        what="an ephemeral follow-up",
    )


async def followup_where(
    fake: FakeDiscord, inter: FakeInteraction, check: Callable[[RecordedRequest], bool]
) -> RecordedRequest:
    return await fake.wait_until(
        lambda: next((r for r in fake.followups(inter) if check(r)), None), TIMEOUT, what="a matching follow-up"
    )


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = TIMEOUT) -> T:
    """An async check (a database read: no fake can signal it) once truthy, polled up to a deadline."""
    return await poll_until(check, timeout, what="a database condition")


# ------------------------------------------------------------------------------------------ tests


async def test_start_syncs_commands_to_the_dev_guild(fake_discord: FakeDiscord, bot: Bot) -> None:
    commands = {c["name"]: c for c in fake_discord.commands_for(fake_discord.guild_id)}
    assert set(commands) == {
        "imagine",
        "edit",
        "blend",
        "ask",
        "chat",
        "think",
        "describe",
        "usage",
        "info",
        "models",
        "help",
        "cancel",
        "reset",
        "settings",
        "mod",
        "Edit image",
        "Ask about image",
    }
    assert int(commands["settings"]["default_member_permissions"]) == 1 << 5  # Manage Server
    assert commands["Edit image"]["type"] == 3 and commands["Ask about image"]["type"] == 3
    size = next(o for o in commands["imagine"]["options"] if o["name"] == "size")
    allowed = bot.core.settings.size_allow_list
    assert [c["value"] for c in size["choices"]] == [f"{w}x{h}" for w, h in allowed][:25]
    model = next(o for o in commands["imagine"]["options"] if o["name"] == "model")
    assert model["autocomplete"] is True
    image = next(o for o in commands["edit"]["options"] if o["name"] == "image")
    assert image["type"] == 11 and image["required"] is True
    intents = fake_discord.identify["intents"]  # type: ignore[index]
    assert intents & (1 << 15) and not intents & (1 << 1)  # message content; no members
    assert not fake_discord.commands_for(None)  # nothing global when DISCORD_GUILD_IDS is set


async def test_model_autocomplete_lists_catalogue(fake_discord: FakeDiscord, bot: Bot) -> None:
    inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "x", "model": "flash"}, focused="model")
    callback = await fake_discord.wait_for_callback(inter, TIMEOUT)
    choices = callback.json["data"]["choices"]
    expected = [m.qualified for m in bot.core.catalogue.image_models() if "flash" in m.qualified]
    assert expected and [c["value"] for c in choices] == expected


async def test_global_sync_without_guild_ids_and_clean_stop(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord, discord_guild_ids="") as started:
        assert {c["name"] for c in fake_discord.commands_for(None)} >= {"imagine", "chat", "settings"}
        assert started.client.is_ready()
    assert not fake_discord.connected


async def test_bad_token_is_a_clear_start_error(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    settings = make_settings(tmp_path, fake_agnes, discord_token="not-the-token")
    core = await Atelier.start(settings)
    try:
        adapter = DiscordAdapter(core, settings, guild_ready_timeout=0.05)
        with pytest.raises(DiscordStartError, match="rejected DISCORD_TOKEN") as caught:
            await adapter.start()
        assert "not-the-token" not in str(caught.value)
        await adapter.stop()
    finally:
        await core.close()


async def test_a_failing_handler_answers_plainly_and_the_client_keeps_going(
    fake_discord: FakeDiscord, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(request: Any, reply: Any) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(bot.core, "usage", broken)
    failed = await fake_discord.dispatch_slash_command("usage")
    error = await ephemeral_followup(fake_discord, failed)
    assert "went wrong" in error.json["content"] and "fire" not in error.json["content"]
    works = await fake_discord.dispatch_slash_command("help")
    assert "/imagine" in (await followup_where(fake_discord, works, lambda r: True)).json["content"]


async def test_a_dm_is_a_personal_scope(fake_discord: FakeDiscord, bot: Bot) -> None:
    inter = await fake_discord.dispatch_slash_command("usage", dm=True)
    answer = await followup_where(fake_discord, inter, lambda r: True)
    assert "Images today" in answer.json["content"] and "Whole server" not in answer.json["content"]


async def test_message_content_intent_refused_is_explained_and_can_be_turned_off(
    tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    strict = FakeDiscord(privileged_intents=())
    await strict.start()
    try:
        with strict.patched_discord():
            with pytest.raises(DiscordStartError, match="DISCORD_MESSAGE_CONTENT=false"):
                async with running(tmp_path, fake_agnes, strict):
                    pass
            async with running(tmp_path, fake_agnes, strict, discord_message_content=False) as started:
                assert started.client.is_ready() and not strict.identify["intents"] & (1 << 15)  # type: ignore[index]
    finally:
        await strict.stop()
    assert not strict.internal_errors
