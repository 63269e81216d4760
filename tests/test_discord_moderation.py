"""Moderation on Discord, end to end: the /mod slash subcommands, access rules (blocked terms, roles, bans,
channel rules, threads), flagged results (spoiler, withheld), the moderators' channel and its buttons, and the
review queue, also across a restart. The real discord.py client against FakeDiscord, FakeAgnes and the fake
OpenAI moderation API."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from bot.messages import Action, action_id
from bot.moderation.desk import ModVerb, mod_button_id
from tests import test_discord_harness as harness
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import FakeDiscord, FakeInteraction, RecordedRequest
from tests.fakes.images import png_bytes
from tests.fakes.moderation_server import FakeModeration
from tests.moderation_kit import fake_moderation_fixture, with_model  # noqa: F401 - a pytest fixture
from tests.test_discord_harness import TIMEOUT, button_ids, ephemeral_followup, eventually, running

fake_discord = harness.fake_discord

RED = (220, 20, 20)  # the colour of a result the moderation model flags


def flag_red(agnes: FakeAgnes, moderation: FakeModeration, **scores: float) -> None:
    """Every image the fake Agnes makes is red, which the moderation model flags with `scores`."""
    agnes.image = png_bytes(color=RED)
    moderation.flag_images(RED, marked=None, **scores)


def mods_channel(fake: FakeDiscord) -> int:
    """A new channel for the moderators."""
    return int(fake.add_channel(fake.guild_id, "mods")["id"])


async def mod(
    fake: FakeDiscord,
    sub: str,
    options: dict[str, Any] | None = None,
    *,
    user: dict[str, Any] | None = None,
    channel_id: int | None = None,
) -> str:
    """An admin (the guild's owner, unless `user`) runs `/mod <sub>`; returns the private answer."""
    inter = await fake.dispatch_slash_command(
        f"mod {sub}", options or {}, user=user or fake.owner, channel_id=channel_id
    )
    return str((await ephemeral_followup(fake, inter)).json["content"])


async def imagine(fake: FakeDiscord, prompt: str, **where: Any) -> FakeInteraction:
    return await fake.dispatch_slash_command("imagine", {"prompt": prompt}, **where)


async def refused(fake: FakeDiscord, inter: FakeInteraction) -> str:
    """The request was answered privately, with no image."""
    answer = await ephemeral_followup(fake, inter)
    assert not answer.files
    return str(answer.json["content"])


async def public_result(fake: FakeDiscord, inter: FakeInteraction) -> RecordedRequest:
    return await fake.wait_until(
        lambda: next((r for r in fake.followups(inter) if r.files), None), TIMEOUT, what="a result with an image"
    )


async def used_today(bot: harness.Bot, fake: FakeDiscord, user: dict[str, Any]) -> int:
    usage = await bot.core.store.quotas.usage(f"discord:guild:{fake.guild_id}", f"discord:{user['id']}")
    return usage.user_used


def job_of(result: RecordedRequest) -> str:
    return button_ids(result.json)[0].rsplit(":", 1)[1]


def member(fake: FakeDiscord, name: str, roles: tuple[int, ...] = ()) -> dict[str, Any]:
    user = fake.add_user(name)
    fake.add_member(fake.guild_id, user, roles=roles)
    return user


async def desk_message(fake: FakeDiscord, channel_id: int, verb: ModVerb) -> dict[str, Any]:
    """The newest item in the moderators' channel with a `verb` button."""
    return await fake.wait_until(
        lambda: next(
            (m for m in reversed(fake.messages_in(channel_id)) if any(f":{verb}:" in b for b in button_ids(m))),
            None,
        ),
        TIMEOUT,
        what=f"a moderators' channel item with a {verb} button",
    )


async def settled_item(fake: FakeDiscord, message: dict[str, Any]) -> dict[str, Any]:
    """The item once a moderator acted on it: its buttons gone, what was done added."""
    return await fake.wait_until(
        lambda: m if (m := fake.message(int(message["id"]))) and not m["components"] else None, TIMEOUT, what="settled"
    )


def item_of(message: dict[str, Any], verb: ModVerb) -> int:
    return int(next(b for b in button_ids(message) if f":{verb}:" in b).rsplit(":", 1)[1])


async def press(
    fake: FakeDiscord,
    message: dict[str, Any],
    verb: ModVerb,
    user: dict[str, Any] | None = None,
    *,
    item: int | None = None,
) -> str:
    """Click `verb` under `message` (`item`: a button it had, e.g. before it was settled)."""
    custom_id = mod_button_id(verb, item if item is not None else item_of(message, verb))
    click = await fake.dispatch_component(custom_id, message=message, user=user or fake.owner)
    return str((await ephemeral_followup(fake, click)).json["content"])


# ------------------------------------------------------------------------------------------ the command


async def test_mod_is_registered_for_server_managers_only(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord):
        commands = {c["name"]: c for c in fake_discord.commands_for(fake_discord.guild_id)}
    command = commands["mod"]
    assert int(command["default_member_permissions"]) == 1 << 5  # Manage Server
    assert command["dm_permission"] is False  # servers only
    subs = {o["name"]: o for o in command["options"]}
    assert {"block", "roles", "ban", "unban", "bans", "channel", "strictness", "output", "nsfw", "log"} <= set(subs)
    assert {"logchannel", "review", "status"} <= set(subs)
    assert [o["name"] for o in subs["block"]["options"]] == ["add", "remove", "list"]
    assert [o["name"] for o in subs["roles"]["options"]] == ["allow", "deny", "clear"]
    ban = {o["name"]: o for o in subs["ban"]["options"]}
    assert ban["user"]["type"] == 6 and ban["user"]["required"] and not ban["duration"].get("required")
    channel = {o["name"]: o for o in subs["channel"]["options"]}
    assert [c["value"] for c in channel["mode"]["choices"]][:4] == ["images", "chat", "all", "off"]
    assert channel["channel"]["type"] == 7


async def test_non_admins_are_refused_on_mod_even_when_discord_shows_it_to_them(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    # A server can grant the command to anyone in its integration settings: the bot checks again.
    async with running(tmp_path, fake_agnes, fake_discord):
        answer = await mod(fake_discord, "block add", {"term": "lighthouse"}, user=fake_discord.user)
        assert "admin" in answer.lower()
        inter = await imagine(fake_discord, "a lighthouse at dusk", user=fake_discord.user)
        await public_result(fake_discord, inter)  # nothing was blocked
    assert len(fake_agnes.image_requests()) == 1


async def test_help_lists_mod_only_for_admins(tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes) -> None:
    async with running(tmp_path, fake_agnes, fake_discord):
        mine = await fake_discord.dispatch_slash_command("help", user=fake_discord.owner)
        theirs = await fake_discord.dispatch_slash_command("help", user=fake_discord.user)
        admin_help = (await fake_discord.wait_for_followup(mine, timeout=TIMEOUT)).json["content"]
        member_help = (await fake_discord.wait_for_followup(theirs, timeout=TIMEOUT)).json["content"]
    assert "/mod block" in admin_help and "/mod " not in member_help


# ------------------------------------------------------------------------------------------ access


async def test_a_blocked_term_refuses_imagine_without_calling_agnes_or_charging(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord) as bot:
        await mod(fake_discord, "block add", {"term": "lighthouse"})
        answer = await refused(fake_discord, await imagine(fake_discord, "a L1GHT h0use at dusk"))
        assert "lighthouse" not in answer.lower().replace(" ", "")  # the rule is not repeated to the user
        assert await used_today(bot, fake_discord, fake_discord.user) == 0
        listed = await mod(fake_discord, "block list")
        assert "lighthouse" in listed
    assert fake_agnes.image_requests() == []


async def test_denied_and_missing_allowed_roles_are_refused(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    guild = fake_discord.guild_id
    guests = fake_discord.add_role(guild, "guests")
    artists = fake_discord.add_role(guild, "artists")
    guest = member(fake_discord, "guest", (int(guests["id"]),))
    artist = member(fake_discord, "artist", (int(artists["id"]),))
    async with running(tmp_path, fake_agnes, fake_discord):
        await mod(fake_discord, "roles deny", {"role": guests["id"]})
        await refused(fake_discord, await imagine(fake_discord, "a cat", user=guest))
        await public_result(fake_discord, await imagine(fake_discord, "a cat", user=fake_discord.user))

        await mod(fake_discord, "roles clear")
        await mod(fake_discord, "roles allow", {"role": artists["id"]})
        await refused(fake_discord, await imagine(fake_discord, "a dog", user=fake_discord.user))  # no artists role
        await public_result(fake_discord, await imagine(fake_discord, "a dog", user=artist))
    assert [r.body["prompt"] for r in fake_agnes.image_requests()] == ["a cat", "a dog"]


async def test_a_role_made_while_the_bot_runs_counts_too(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord) as bot:
        muted = await fake_discord.create_role(fake_discord.guild_id, "muted")

        async def known() -> bool:
            guild = bot.client.get_guild(fake_discord.guild_id)
            return guild is not None and guild.get_role(int(muted["id"])) is not None

        await eventually(known)
        fake_discord.members[fake_discord.guild_id][int(fake_discord.user["id"])]["roles"].append(muted["id"])
        await mod(fake_discord, "roles deny", {"role": muted["id"]})
        await refused(fake_discord, await imagine(fake_discord, "a cat"))
    assert fake_agnes.image_requests() == []


async def test_a_banned_user_is_refused_until_unbanned(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord):
        await mod(fake_discord, "ban", {"user": fake_discord.user["id"], "duration": "2h", "reason": "spam"})
        await refused(fake_discord, await imagine(fake_discord, "a cat"))
        assert "Banned here (1)" in await mod(fake_discord, "bans")
        await mod(fake_discord, "unban", {"user": fake_discord.user["id"]})
        await public_result(fake_discord, await imagine(fake_discord, "a dog"))
    assert [r.body["prompt"] for r in fake_agnes.image_requests()] == ["a dog"]


async def test_a_chat_only_channel_refuses_imagine_and_its_threads_follow_it(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    general = fake_discord.channel_id
    thread = fake_discord.add_thread(general, "ideas")
    other = int(fake_discord.add_channel(fake_discord.guild_id, "art")["id"])
    async with running(tmp_path, fake_agnes, fake_discord):
        await mod(fake_discord, "channel", {"mode": "chat"}, channel_id=general)
        await refused(fake_discord, await imagine(fake_discord, "a cat", channel_id=general))
        await refused(fake_discord, await imagine(fake_discord, "a cat", channel_id=int(thread["id"])))
        await public_result(fake_discord, await imagine(fake_discord, "a dog", channel_id=other))
        # Named from elsewhere: the option picks the channel the rule is for.
        await mod(fake_discord, "channel", {"mode": "off", "channel": other}, channel_id=general)
        await refused(fake_discord, await imagine(fake_discord, "a bird", channel_id=other))
    assert [r.body["prompt"] for r in fake_agnes.image_requests()] == ["a dog"]


# ------------------------------------------------------------------------------------------ results


async def test_spoiler_mode_uploads_a_flagged_result_as_a_spoiler_and_delete_removes_it(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    mods = mods_channel(fake_discord)
    flag_red(fake_agnes, fake_moderation, violence=0.97)
    async with running(tmp_path, fake_agnes, fake_discord, **with_model(fake_moderation)) as bot:
        await mod(fake_discord, "logchannel", channel_id=mods)
        await mod(fake_discord, "output", {"mode": "spoiler"})
        result = await public_result(fake_discord, await imagine(fake_discord, "a battle"))
        [upload] = result.files
        assert upload.filename.startswith("SPOILER_")
        posted = int(result.message_id or 0)
        assert fake_discord.message(posted)["attachments"][0]["filename"].startswith("SPOILER_")

        alert = await desk_message(fake_discord, mods, ModVerb.DELETE)
        assert {ModVerb.DELETE, ModVerb.BAN, ModVerb.DISMISS} <= {b.split(":")[1] for b in button_ids(alert)}

        async def noted() -> bool:  # the core notes where the result went just after posting it
            record = await bot.core.store.jobs.get(job_of(result))
            return record is not None and record.posted_ref is not None

        await eventually(noted)
        assert "deleted" in (await press(fake_discord, alert, ModVerb.DELETE)).lower()
        await fake_discord.wait_until(lambda: posted in fake_discord.deleted_messages, TIMEOUT, what="deletion")
        settled = await settled_item(fake_discord, alert)
        assert settled["content"].endswith("Deleted by Guild Owner")  # who did it, under what it was about


async def test_a_withheld_result_goes_only_to_the_moderators_channel_behind_a_spoiler(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    general = fake_discord.channel_id
    mods = mods_channel(fake_discord)
    flag_red(fake_agnes, fake_moderation, violence=0.97)
    async with running(tmp_path, fake_agnes, fake_discord, **with_model(fake_moderation)):
        await mod(fake_discord, "logchannel", channel_id=mods)
        inter = await imagine(fake_discord, "a battle", channel_id=general)
        alert = await desk_message(fake_discord, mods, ModVerb.BAN)
        assert alert["attachments"] and all(a["filename"].startswith("SPOILER_") for a in alert["attachments"])
        assert "a battle" in alert["content"]
        told = await fake_discord.wait_until(
            lambda: next((r for r in fake_discord.followups(inter) if "held" in r.json.get("content", "")), None),
            TIMEOUT,
            what="the requester told",
        )
        assert not told.files
        assert not any(m["attachments"] for m in fake_discord.messages_in(general))  # nothing posted openly

        # A member pressing a moderators' button is refused and changes nothing.
        answer = await press(fake_discord, alert, ModVerb.DISMISS, user=fake_discord.user)
        assert "moderator" in answer.lower() or "admin" in answer.lower()
        assert fake_discord.message(int(alert["id"]))["components"]

        await press(fake_discord, alert, ModVerb.DISMISS)
        dismissed = await settled_item(fake_discord, alert)
        assert "dismissed" in dismissed["content"].lower()

        await imagine(fake_discord, "another battle", channel_id=general)
        alert = await desk_message(fake_discord, mods, ModVerb.BAN)
        await press(fake_discord, alert, ModVerb.BAN)
        await refused(fake_discord, await imagine(fake_discord, "a cat"))  # now banned
        log = await mod(fake_discord, "log")
        assert "withheld" in log.lower()
    assert [r.body["prompt"] for r in fake_agnes.image_requests()] == ["a battle", "another battle"]


# ------------------------------------------------------------------------------------------ review queue


async def test_review_queue_approve_and_reject_after_a_restart(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    general = fake_discord.channel_id
    mods = mods_channel(fake_discord)
    async with running(tmp_path, fake_agnes, fake_discord):
        await mod(fake_discord, "logchannel", channel_id=mods)
        await mod(fake_discord, "review", {"state": "on"}, channel_id=general)
        calm = await imagine(fake_discord, "a calm lake", channel_id=general)
        held = await desk_message(fake_discord, mods, ModVerb.APPROVE)
        stormy = await imagine(fake_discord, "a stormy sea", channel_id=general)
        second = await fake_discord.wait_until(
            lambda: next((m for m in fake_discord.messages_in(mods) if m["components"] and m != held), None),
            TIMEOUT,
            what="the second review",
        )
        for inter in (calm, stormy):
            waiting = await ephemeral_or_public_text(fake_discord, inter)
            assert "approval" in waiting and not any(r.files for r in fake_discord.followups(inter))
        assert held["attachments"][0]["filename"].startswith("SPOILER_") and "a calm lake" in held["content"]
        assert not any(m["attachments"] for m in fake_discord.messages_in(general))
        review = item_of(held, ModVerb.APPROVE)
        stale = copy.deepcopy(held)  # what a second moderator's screen still shows

    async with running(tmp_path, fake_agnes, fake_discord):  # new client, new core, same database
        assert "approve" in (await press(fake_discord, held, ModVerb.APPROVE)).lower()
        approved = await fake_discord.wait_for_message(general, lambda m: bool(m["attachments"]), TIMEOUT)
        assert approved["content"].startswith(f"<@{fake_discord.user['id']}>") and "a calm lake" in approved["content"]
        assert [u["id"] for u in approved["mentions"]] == [fake_discord.user["id"]]
        assert not approved["attachments"][0]["filename"].startswith("SPOILER_")
        job = button_ids(approved)[0].rsplit(":", 1)[1]
        assert button_ids(approved) == [
            action_id(a, job) for a in (Action.REROLL, Action.SUBTLE, Action.VARY, Action.EDIT)
        ]
        settled = await settled_item(fake_discord, held)
        assert "approved" in settled["content"].lower() and "a calm lake" in settled["content"]
        again = await press(fake_discord, stale, ModVerb.APPROVE, item=review)
        assert "already" in again.lower()

        await press(fake_discord, second, ModVerb.REJECT)
        told = await fake_discord.wait_for_message(
            general, lambda m: "not approve" in m["content"] and not m["attachments"], TIMEOUT
        )
        assert [u["id"] for u in told["mentions"]] == [fake_discord.user["id"]]
        rejected = await settled_item(fake_discord, second)
        assert "rejected" in rejected["content"].lower()
    assert sum(1 for m in fake_discord.messages_in(general) if m["attachments"]) == 1
    assert len(fake_agnes.image_requests()) == 2


async def test_a_sexual_result_shows_in_an_age_restricted_channel_with_nsfw_on_and_is_withheld_elsewhere(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    adults = int(fake_discord.add_channel(fake_discord.guild_id, "adults", nsfw=True)["id"])
    adults_thread = fake_discord.add_thread(adults, "more")
    flag_red(fake_agnes, fake_moderation, sexual=0.97)
    async with running(tmp_path, fake_agnes, fake_discord, **with_model(fake_moderation)):
        await mod(fake_discord, "nsfw", {"state": "on"})
        shown = await public_result(fake_discord, await imagine(fake_discord, "a figure study", channel_id=adults))
        assert not shown.files[0].filename.startswith("SPOILER_")
        in_thread = await imagine(fake_discord, "a figure study", channel_id=int(adults_thread["id"]))
        await public_result(fake_discord, in_thread)  # a thread is age-restricted through its parent
        elsewhere = await imagine(fake_discord, "a figure study", channel_id=fake_discord.channel_id)
        held = await ephemeral_or_public_text(fake_discord, elsewhere)
        assert "held" in held
        assert not any(r.files for r in fake_discord.followups(elsewhere))


async def ephemeral_or_public_text(fake: FakeDiscord, inter: FakeInteraction) -> str:
    found = await fake.wait_until(
        lambda: next((r for r in fake.followups(inter) if r.json.get("content")), None), TIMEOUT, what="an answer"
    )
    return str(found.json["content"])


async def test_a_flagged_chat_answer_is_replaced_in_every_message_it_was_split_into(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    clock = FakeClock()
    thread = fake_discord.add_thread(fake_discord.channel_id, "chat")
    fake_agnes.chat_reply = " ".join(f"word{i:03d}" for i in range(420))  # ~3,400 characters: two messages
    fake_moderation.flag_text("word300", harassment=0.99)
    settings = with_model(fake_moderation) | {"discord_stream_edit_seconds": 1.0}
    async with running(tmp_path, fake_agnes, fake_discord, clock=clock, **settings), clock.autojump():
        inter = await fake_discord.dispatch_slash_command("chat", {"message": "tell me"}, channel_id=int(thread["id"]))

        def replaced() -> list[int] | None:
            posted = [r.message_id for r in fake_discord.followups(inter) if r.message_id]
            if len(posted) == 2 and posted[1] in fake_discord.deleted_messages:
                return posted
            return None

        first, second = await fake_discord.wait_until(replaced, 15, what="the answer replaced")
    notice = fake_discord.message(first)["content"]
    assert "hidden by moderation" in notice and "word" not in notice
    assert second in fake_discord.deleted_messages


async def test_a_flagged_answer_in_a_new_chat_thread_is_replaced_there(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_moderation.flag_text(fake_agnes.chat_reply, harassment=0.99)
    async with running(tmp_path, fake_agnes, fake_discord, **with_model(fake_moderation)):
        await fake_discord.dispatch_slash_command("chat", {"message": "describe a coast"})
        created = await fake_discord.wait_for(lambda r: r.route.endswith("/threads") and r.status < 300, TIMEOUT)
        thread = int(created.response["id"])
        answer = await fake_discord.wait_for_message(thread, lambda m: "hidden by moderation" in m["content"], TIMEOUT)
    assert fake_discord.edits_of(int(answer["id"]))  # the streamed answer itself was edited, not a second message
    assert not any(fake_agnes.chat_reply in m["content"] for m in fake_discord.messages_in(thread))


async def test_a_deleted_moderators_channel_never_fails_the_job(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    mods = mods_channel(fake_discord)
    flag_red(fake_agnes, fake_moderation, violence=0.97)
    async with running(tmp_path, fake_agnes, fake_discord, **with_model(fake_moderation)):
        await mod(fake_discord, "logchannel", channel_id=mods)
        await mod(fake_discord, "output", {"mode": "spoiler"})
        del fake_discord.channels[mods]  # deleted on Discord: posting there is 404 Unknown Channel
        result = await public_result(fake_discord, await imagine(fake_discord, "a battle"))
        await fake_discord.wait_for(lambda r: r.path == f"/channels/{mods}/messages" and r.status == 404, TIMEOUT)
    assert result.files[0].filename.startswith("SPOILER_")
