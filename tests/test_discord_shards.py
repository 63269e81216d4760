"""Many processes, one Discord bot: each process runs its shards (DISCORD_SHARD_COUNT / DISCORD_SHARD_IDS) and
answers only its guilds; the slash commands are registered by one process, and only when they changed."""

from __future__ import annotations

import pytest

from adapters.discord.adapter import DiscordStartError
from adapters.discord.shards import IdentifyPacing, ShardPlan, ShardSettingsError, parse_shard_ids
from tests import test_discord_harness as harness
from tests.conftest import make_settings
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import FakeDiscord, FakeInteraction, RecordedRequest
from tests.test_discord_harness import TIMEOUT, Bot, button_ids, running

fake_discord = harness.fake_discord

GUILD_PUT = "/applications/{application_id}/guilds/{guild_id}/commands"
GLOBAL_PUT = "/applications/{application_id}/commands"


def shard_of(guild_id: int, count: int) -> int:
    return (guild_id >> 22) % count


def second_guild(fake: FakeDiscord) -> int:
    """A guild Discord routes to the other of two shards than the default guild's."""
    gid = fake.add_guild("Second Guild", guild_id=fake.guild_id + (1 << 22))
    fake.add_member(gid, fake.user)
    return gid


def syncs(fake: FakeDiscord, route: str) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.method == "PUT" and r.route == route]


async def imagine_in(fake: FakeDiscord, guild_id: int) -> tuple[FakeInteraction, RecordedRequest]:
    inter = await fake.dispatch_slash_command(
        "imagine", {"prompt": "a red kite"}, guild_id=guild_id, channel_id=fake.text_channels(guild_id)[0]
    )
    followup = await fake.wait_until(
        lambda: next((r for r in fake.followups(inter) if r.files), None), TIMEOUT, what="the image"
    )
    return inter, followup


def callbacks_of(fake: FakeDiscord, inter: FakeInteraction) -> list[RecordedRequest]:
    return [c for c in fake.callbacks if c.params["interaction_id"] == str(inter.id)]


async def job_ids(bot: Bot) -> list[str]:
    rows = await bot.core.store.db.fetchall("SELECT id FROM jobs")
    return [row["id"] for row in rows]


# ------------------------------------------------------------------------------------------ shards


async def test_each_guild_is_answered_by_the_process_running_its_shard(
    tmp_path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    first, second = fake_discord.guild_id, second_guild(fake_discord)
    shard = {first: shard_of(first, 2), second: shard_of(second, 2)}
    assert set(shard.values()) == {0, 1}
    both = {"discord_shard_count": 2, "discord_guild_ids": f"{first},{second}"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        running(tmp_path / "a", fake_agnes, fake_discord, discord_shard_ids="0", **both) as zero,
        running(tmp_path / "b", fake_agnes, fake_discord, discord_shard_ids="1", **both) as one,
    ):
        by_shard = {0: zero, 1: one}
        assert sorted(d["shard"] for d in fake_discord.identifies) == [[0, 2], [1, 2]]
        for gid, owner in shard.items():  # each process knows only its shard's guild
            assert by_shard[owner].client.get_guild(gid) is not None
            assert by_shard[1 - owner].client.get_guild(gid) is None

        for gid, owner in shard.items():
            inter, followup = await imagine_in(fake_discord, gid)
            job = button_ids(followup.json)[0].rsplit(":", 1)[1]
            assert followup.json["content"].startswith("a red kite")
            assert [c.status for c in callbacks_of(fake_discord, inter)] == [200]  # one answer, accepted
            assert job in await job_ids(by_shard[owner])
            assert job not in await job_ids(by_shard[1 - owner])

        # A DM belongs to shard 0: answered once, by that process.
        dm = await fake_discord.dispatch_slash_command("help", dm=True)
        await fake_discord.wait_for_callback(dm, TIMEOUT)
        assert len(callbacks_of(fake_discord, dm)) == 1
        # Only the process running shard 0 registered the commands, once per guild.
        assert sorted(int(r.params["guild_id"]) for r in syncs(fake_discord, GUILD_PUT)) == sorted([first, second])


async def test_one_process_runs_every_shard_when_no_ids_are_given(
    tmp_path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord, discord_shard_count=1) as bot:
        assert [d["shard"] for d in fake_discord.identifies] == [[0, 1]]
        assert bot.client.get_guild(fake_discord.guild_id) is not None
        _, followup = await imagine_in(fake_discord, fake_discord.guild_id)
        assert followup.json["content"].startswith("a red kite")


async def test_without_a_count_one_process_runs_what_discord_recommends(
    tmp_path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord):
        assert [d["shard"] for d in fake_discord.identifies] == [[0, 1]]  # a small bot: one shard

    fake_discord.identifies.clear()
    fake_discord.required_shards = 2  # as Discord does past 2,500 servers
    fake_discord.max_concurrency = 2  # both shards may IDENTIFY at once
    async with running(tmp_path, fake_agnes, fake_discord) as bot:
        assert sorted(d["shard"] for d in fake_discord.identifies) == [[0, 2], [1, 2]]
        _, followup = await imagine_in(fake_discord, fake_discord.guild_id)
        assert followup.json["content"].startswith("a red kite")
        assert bot.client.get_guild(fake_discord.guild_id) is not None


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [("0-3", 4, (0, 1, 2, 3)), ("0,2", 4, (0, 2)), (" 1 , 0-1 ", 2, (0, 1)), ("5", 8, (5,))],
)
def test_shard_ids_are_read_as_lists_and_ranges(text: str, count: int, expected: tuple[int, ...]) -> None:
    assert parse_shard_ids(text, count) == expected


@pytest.mark.parametrize(
    ("text", "count", "says"),
    [
        ("4", 4, "shard 4 does not exist with DISCORD_SHARD_COUNT=4 (shards are numbered 0 to 3)"),
        ("0-9", 2, "shard 9 does not exist"),
        ("a", 2, "'a' is not a shard number"),
        ("3-1", 4, "'3-1' is not a range"),
        (",", 4, "list shards like 0-3 or 0,2"),
    ],
)
def test_bad_shard_ids_say_what_is_wrong(text: str, count: int, says: str) -> None:
    with pytest.raises(ShardSettingsError, match="DISCORD_SHARD_IDS is invalid") as caught:
        parse_shard_ids(text, count)
    assert says in str(caught.value)


def test_only_the_process_with_shard_0_syncs_commands(tmp_path) -> None:
    def plan(**values: object) -> ShardPlan:
        return ShardPlan.from_settings(make_settings(tmp_path, None, **values))

    assert plan().syncs_commands and plan().client_options() == {}
    assert plan(discord_shard_count=4).client_options() == {"shard_count": 4, "shard_ids": [0, 1, 2, 3]}
    assert plan(discord_shard_count=4, discord_shard_ids="0-1").syncs_commands
    assert not plan(discord_shard_count=4, discord_shard_ids="2-3").syncs_commands


async def test_shard_ids_without_a_count_are_a_clear_start_error(
    tmp_path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    with pytest.raises(DiscordStartError, match="DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT"):
        async with running(tmp_path, fake_agnes, fake_discord, discord_shard_ids="0-1"):
            pass
    assert fake_discord.identifies == []


async def test_too_few_shards_is_a_clear_start_error(
    tmp_path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    fake_discord.required_shards = 2
    with pytest.raises(DiscordStartError, match=r"needs more shards for this bot .* raise DISCORD_SHARD_COUNT"):
        async with running(tmp_path, fake_agnes, fake_discord, discord_shard_count=1):
            pass


async def test_shards_identify_as_fast_as_discord_allows() -> None:
    """One IDENTIFY per 5 s per bucket (shard_id % max_concurrency); other buckets need not wait."""
    clock = FakeClock()
    pacing = IdentifyPacing(clock)
    async with clock.autojump():
        for shard_id in range(4):
            await pacing.wait(shard_id, max_concurrency=2)
    # 0 and 1 went at once; 2 waited 5 s for 0's bucket, by which time 1's bucket was free for 3.
    assert clock.sleeps == [5.0]

    clock = FakeClock()
    pacing = IdentifyPacing(clock)
    async with clock.autojump():
        await pacing.wait(0, max_concurrency=1)
        clock.advance(2.0)
        await pacing.wait(1, max_concurrency=1)
    assert clock.sleeps == [3.0]


# ------------------------------------------------------------------------------------------ command sync


async def test_commands_are_registered_again_only_when_they_change(
    tmp_path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord):
        pass
    assert len(syncs(fake_discord, GUILD_PUT)) == 1

    async with running(tmp_path, fake_agnes, fake_discord) as again:  # same commands: no PUT at all
        assert again.client.get_guild(fake_discord.guild_id) is not None
    assert len(syncs(fake_discord, GUILD_PUT)) == 1
    assert {c["name"] for c in fake_discord.commands_for(fake_discord.guild_id)} >= {"imagine", "settings"}

    async with running(tmp_path, fake_agnes, fake_discord, allowed_sizes="512x512,1024x1024", default_size="512x512"):
        pass  # /imagine's size choices changed
    [_, changed] = syncs(fake_discord, GUILD_PUT)
    imagine = next(c for c in changed.json if c["name"] == "imagine")
    size = next(o for o in imagine["options"] if o["name"] == "size")
    assert [c["value"] for c in size["choices"]] == ["512x512", "1024x1024"]


async def test_global_commands_are_registered_once(tmp_path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord) -> None:
    for _ in range(2):
        async with running(tmp_path, fake_agnes, fake_discord, discord_guild_ids=""):
            pass
    assert len(syncs(fake_discord, GLOBAL_PUT)) == 1
    assert {c["name"] for c in fake_discord.commands_for(None)} >= {"imagine", "chat"}


async def test_a_guild_that_refused_the_commands_is_tried_again_next_start(
    tmp_path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    fake_discord.inject_response(
        "PUT", GUILD_PUT, status=403, body={"message": "Missing Access", "code": 50001}, count=1
    )
    async with running(tmp_path, fake_agnes, fake_discord):
        pass
    async with running(tmp_path, fake_agnes, fake_discord):
        pass
    assert [r.status for r in syncs(fake_discord, GUILD_PUT)] == [403, 200]
