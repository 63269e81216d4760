"""Jobs that outlast an interaction's token (15 minutes on Discord; shortened here, on a fake clock): the
answer goes to the channel as a reply to the original response, naming the member, with its files and
buttons. Driven through the real discord.py client against FakeDiscord, which refuses expired tokens."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.stream import split_pages
from adapters.discord.token_life import INVALID_WEBHOOK_TOKEN
from bot.messages import Action, action_id
from tests import test_discord_harness as harness
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import FakeDiscord, FakeInteraction, Permission, RecordedRequest
from tests.test_discord_harness import TIMEOUT, Bot, button_ids, decode, eventually, png_of, running

fake_discord = harness.fake_discord

LIFETIME = 30.0  # how long the bot uses a token in these tests, on the fake clock
CHANNEL_POST = "/channels/{channel_id}/messages"


@asynccontextmanager
async def long_queue(tmp_path: Path, agnes: FakeAgnes, fake: FakeDiscord, clock: FakeClock) -> AsyncIterator[Bot]:
    """The bot with a short token lifetime; the upstream holds the first image request until released."""
    agnes.faults = ["timeout"]
    async with running(
        tmp_path, agnes, fake, clock=clock, token_seconds=LIFETIME, discord_progress_delay_seconds=0.0
    ) as started:
        yield started


async def held_with_status(fake: FakeDiscord, agnes: FakeAgnes, prompt: str) -> tuple[FakeInteraction, dict]:
    """An /imagine whose request the upstream holds, once its public status (with Cancel) shows."""
    inter = await fake.dispatch_slash_command("imagine", {"prompt": prompt})
    status = await fake.wait_until(
        lambda: (m := fake.original_response(inter)) and m["components"] and m, TIMEOUT, what="a status"
    )
    await agnes.wait_until(lambda: bool(agnes.image_requests()), TIMEOUT)  # the job waits at the upstream
    return inter, status


async def channel_post(fake: FakeDiscord, check: Any = lambda r: True) -> RecordedRequest:
    return await fake.wait_for(
        lambda r: r.method == "POST" and r.route == CHANNEL_POST and r.status == 200 and check(r), TIMEOUT
    )


async def used_today(bot: Bot, fake: FakeDiscord) -> int:
    usage = await bot.core.store.quotas.usage(f"discord:guild:{fake.guild_id}", f"discord:{fake.user['id']}")
    return usage.user_used


async def job_done(bot: Bot, job: str) -> bool:
    record = await bot.core.store.jobs.get(job)
    return record is not None and record.status == "done"


def token_refusals(fake: FakeDiscord, inter: FakeInteraction) -> list[RecordedRequest]:
    return [r for r in fake.requests if inter.token in r.path and r.status == 401]


async def test_an_image_job_outlasting_the_token_is_delivered_in_the_channel(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    clock = FakeClock()
    member = fake_discord.user["id"]
    async with long_queue(tmp_path, fake_agnes, fake_discord, clock) as bot:
        inter, status = await held_with_status(fake_discord, fake_agnes, "lanterns in a long queue")
        clock.advance(LIFETIME + 1)  # past the token's life for the bot...
        fake_discord.expire_interaction_token(inter)  # ...and for Discord
        fake_agnes.release()

        posted = await channel_post(fake_discord)
        result = fake_discord.message(posted.message_id)
        assert result["content"].startswith(f"<@{member}> lanterns in a long queue")
        assert result["message_reference"]["message_id"] == status["id"]  # a reply to the status it replaces
        assert [user["id"] for user in result["mentions"]] == [member]
        allowed = posted.json["allowed_mentions"]
        # Only the member is pinged, whoever else the prompt names.
        assert allowed["parse"] == [] and [str(u) for u in allowed["users"]] == [member]
        [upload] = result["attachments"]
        assert decode(fake_discord.attachment_bytes(upload)).format == "PNG"
        job = button_ids(result)[0].rsplit(":", 1)[1]
        assert button_ids(result) == [
            action_id(a, job) for a in (Action.REROLL, Action.SUBTLE, Action.VARY, Action.EDIT)
        ]
        await fake_discord.wait_until(lambda: int(status["id"]) in fake_discord.deleted_messages, TIMEOUT)
        assert not token_refusals(fake_discord, inter)  # the bot stopped using the token on its own
        assert await eventually(lambda: job_done(bot, job))
        assert await used_today(bot, fake_discord) == 1  # delivered: charged, once

        # Its buttons work: a press is a new interaction, with a token of its own.
        click = await fake_discord.dispatch_component(action_id(Action.REROLL, job), message=posted.message_id)
        rerolled = await fake_discord.wait_for_followup(click, timeout=TIMEOUT)
        assert rerolled.files and button_ids(rerolled.json)
        assert fake_agnes.image_requests()[1].body["prompt"] == fake_agnes.image_requests()[0].body["prompt"]


async def test_a_job_finishing_within_the_token_replaces_its_status_as_before(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    clock = FakeClock()
    async with long_queue(tmp_path, fake_agnes, fake_discord, clock) as bot:
        inter, status = await held_with_status(fake_discord, fake_agnes, "just in time")
        clock.advance(LIFETIME - 1)
        fake_agnes.release()
        result = await fake_discord.wait_for(
            lambda r: r.method == "PATCH" and inter.token in r.path and bool(r.files), TIMEOUT
        )
        assert result.message_id == int(status["id"]) and result.status == 200
        job = button_ids(result.json)[0].rsplit(":", 1)[1]
        assert await eventually(lambda: job_done(bot, job))
        assert not [r for r in fake_discord.requests if r.route == CHANNEL_POST]
        assert await used_today(bot, fake_discord) == 1


async def test_a_token_refused_early_falls_back_to_the_channel(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    clock = FakeClock()
    member = fake_discord.user["id"]
    async with long_queue(tmp_path, fake_agnes, fake_discord, clock) as bot:
        inter, status = await held_with_status(fake_discord, fake_agnes, "an early end")
        fake_discord.expire_interaction_token(inter)  # Discord gives up on the token before the bot expects
        fake_agnes.release()

        posted = await channel_post(fake_discord)
        [refused] = token_refusals(fake_discord, inter)  # tried once, then never again
        assert refused.response["code"] == INVALID_WEBHOOK_TOKEN and refused.files  # the result's upload
        result = fake_discord.message(posted.message_id)
        assert result["content"].startswith(f"<@{member}> an early end")
        assert result["message_reference"]["message_id"] == status["id"] and result["attachments"]
        job = button_ids(result)[0].rsplit(":", 1)[1]
        assert await eventually(lambda: job_done(bot, job))
        assert await used_today(bot, fake_discord) == 1


async def test_a_channel_the_bot_may_not_post_in_refunds_the_job(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    async with long_queue(tmp_path, fake_agnes, fake_discord, clock) as bot:
        inter, _ = await held_with_status(fake_discord, fake_agnes, "nowhere to go")
        assert await used_today(bot, fake_discord) == 1  # reserved while it runs
        channel = fake_discord.channels[fake_discord.channel_id]
        deny = {"id": str(fake_discord.bot_id), "type": 1, "allow": "0", "deny": str(int(Permission.VIEW_CHANNEL))}
        channel["permission_overwrites"].append(deny)
        clock.advance(LIFETIME + 1)
        fake_discord.expire_interaction_token(inter)
        with caplog.at_level(logging.WARNING, logger="adapters.discord.token_life"):
            fake_agnes.release()
            refused = await fake_discord.wait_for(lambda r: r.route == CHANNEL_POST and r.status == 403, TIMEOUT)

            async def refunded() -> bool:
                return await used_today(bot, fake_discord) == 0

            assert await eventually(refunded)  # never delivered: never charged
    assert refused.response["code"] == 50001  # Missing Access
    warning = next(r.getMessage() for r in caplog.records if r.name == "adapters.discord.token_life")
    assert "Send Messages" in warning and "Attach Files" in warning


async def test_a_streamed_answer_outlasting_the_token_completes_in_the_channel(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    clock = FakeClock()
    member = fake_discord.user["id"]
    text = " ".join(f"word{n}" for n in range(400))  # about 3,100 characters: two messages
    fake_agnes.chat_reply, fake_agnes.chat_chunk, fake_agnes.chat_hold_at = text, 40, 400
    photo = fake_discord.add_attachment(png_of(), "queue.png")
    async with running(tmp_path, fake_agnes, fake_discord, clock=clock, token_seconds=LIFETIME):
        inter = await fake_discord.dispatch_slash_command("ask", {"question": "what is this?", "image": photo})
        first = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)  # the first words, by the token
        clock.advance(LIFETIME + 1)
        fake_discord.expire_interaction_token(inter)
        async with clock.autojump():  # the stream's pacing waits pass at once from here
            fake_agnes.release()
            second = await channel_post(fake_discord)
            pages = split_pages(text)

            def shown() -> bool:
                messages = (fake_discord.message(first.message_id), fake_discord.message(second.message_id))
                # The page that follows names the member where it starts (until an edit shows it again).
                return [m["content"].removeprefix(f"<@{member}> ") for m in messages] == pages

            await fake_discord.wait_until(shown, TIMEOUT, what="the whole answer")
    assert second.json["content"].startswith(f"<@{member}> ")
    assert fake_discord.message(second.message_id)["message_reference"]["message_id"] == str(first.message_id)
    assert any(
        r.route == "/channels/{channel_id}/messages/{message_id}" for r in fake_discord.edits_of(first.message_id)
    )
    assert not token_refusals(fake_discord, inter)


async def test_how_a_job_ended_past_the_token_is_told_in_the_channel(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    """An error that would have been private can only be public past the token: the member must learn it."""
    clock = FakeClock()
    member = fake_discord.user["id"]
    async with long_queue(tmp_path, fake_agnes, fake_discord, clock) as bot:
        inter, status = await held_with_status(fake_discord, fake_agnes, "not worth the wait")
        clock.advance(LIFETIME + 1)
        fake_discord.expire_interaction_token(inter)
        [cancel] = button_ids(status)
        click = await fake_discord.dispatch_component(cancel, message=status)  # a press has a token of its own

        notice = fake_discord.message((await channel_post(fake_discord)).message_id)
        assert notice["content"].startswith(f"<@{member}> ") and "Cancelled" in notice["content"]
        assert notice["message_reference"]["message_id"] == status["id"]
        await fake_discord.wait_until(lambda: int(status["id"]) in fake_discord.deleted_messages, TIMEOUT)
        assert await used_today(bot, fake_discord) == 0
        assert not token_refusals(fake_discord, inter) and not fake_discord.followups(click)
        fake_agnes.release()
