"""Issue 10, item 8: `/mod` in its text form (Telegram, the console) and through the core's one door: admins
only, each change confirmed, visible in the summary and the stored policy, and recorded in the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.command import Invalid, Moderate
from bot.commands.help import HELP, MOD_HELP
from bot.commands.moderation import NOT_ADMIN, ModCommand
from bot.core import Atelier
from bot.messages import User
from bot.parsing import MOD_USAGE, parse_line
from bot.store.moderation import DEFAULT_CHANNEL, AuditEvent, ChannelMode
from tests.conftest import make_settings
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.moderation_kit import every_mod_line
from tests.recording import RecordingReply, make_request, say

NOW = datetime(2026, 12, 2, 18, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/mod", Moderate()),
        ("/mod block add Re:C[a@]t", Moderate("block add", "Re:C[a@]t")),
        ("/mod BLOCK Remove red  fox", Moderate("block remove", "red  fox")),
        ("/mod block list", Moderate("block list")),
        ("/mod ban <@!42> 7d spamming", Moderate("ban", "<@!42> 7d spamming")),
        ("/mod unban 42", Moderate("unban", "42")),
        ("/mod bans", Moderate("bans")),
        ("/mod channel default chat", Moderate("channel", "default chat")),
        ("/mod roles allow <@&77>", Moderate("roles allow", "<@&77>", role="77")),
        ("/mod roles deny 78", Moderate("roles deny", "78", role="78")),
        ("/mod roles deny Artists", Moderate("roles deny", "Artists")),
        ("/mod roles clear", Moderate("roles clear")),
        ("/mod strictness high", Moderate("strictness", "high")),
        ("/mod output spoiler", Moderate("output", "spoiler")),
        ("/mod nsfw on", Moderate("nsfw", "on")),
        ("/mod log 25", Moderate("log", "25")),
        ("/mod logchannel", Moderate("logchannel")),
        ("/mod@AtelierBot review on", Moderate("review", "on")),
    ],
)
def test_the_text_form_of_every_subcommand(line: str, expected: Moderate) -> None:
    assert parse_line(line, []) == expected


@pytest.mark.parametrize("line", ["/mod frobnicate", "/mod block", "/mod block purge x", "/mod roles", "/mod roles x"])
def test_an_unknown_subcommand_says_what_is_valid(line: str) -> None:
    command = parse_line(line, [])
    assert isinstance(command, Invalid)
    assert "/mod block add|remove|list" in command.reason or "Usage: /mod" in command.reason


EVERY_SUBCOMMAND = every_mod_line("<@42>", role="<@&7>")


async def test_non_admins_are_refused_on_every_subcommand(core: Atelier) -> None:
    member = make_request("u2", platform="discord")
    member.origin = json.dumps({"channel": "c1"})
    for line in EVERY_SUBCOMMAND:
        reply = RecordingReply()
        await say(core, line, member, reply)
        assert reply.errors == [NOT_ADMIN] and not reply.texts, line
    policy = await core.store.moderation.policy(member.scope.key)
    assert not policy.terms and not policy.channels and not policy.allowed_roles and not policy.bans
    assert await core.store.moderation.recent(member.scope.key, 50) == []
    assert await core.store.settings.all(member.scope.key) == {}


async def test_each_change_is_confirmed_shown_in_the_summary_and_stored(core: Atelier) -> None:
    admin = make_request("boss", admin=True, platform="discord")
    admin.channel, admin.origin = "c1", json.dumps({"channel": "mods"})
    lines = [
        "/mod channel images",
        "/mod channel default chat",
        "/mod roles allow <@&7>",
        "/mod roles deny 8",
        "/mod ban <@42> 2h",
        "/mod strictness high",
        "/mod output spoiler",
        "/mod nsfw on",
        "/mod logchannel",
        "/mod review on",
    ]
    for line in lines:
        reply = RecordingReply()
        await say(core, line, admin, reply)
        assert reply.texts and not reply.errors, (line, reply.errors)

    summary = RecordingReply()
    await say(core, "/mod", admin, summary)
    text = summary.texts[0]
    assert "<#c1> allows images only; the default allows chat only" in text
    assert "allowed <@&7>; denied <@&8>" in text
    assert "Banned: 1" in text
    assert "Strictness: high (no moderation model is configured" in text
    assert "Flagged results: posted behind a spoiler" in text
    assert "Age-restricted channels: may show sexual content" in text
    assert "Moderators' channel: set" in text
    assert "Review queue: on in this channel" in text

    policy = await core.store.moderation.policy(admin.scope.key)
    assert policy.channels == {"c1": ChannelMode.IMAGES, DEFAULT_CHANNEL: ChannelMode.CHAT}
    assert policy.allowed_roles == {"7"} and policy.denied_roles == {"8"}
    assert set(policy.bans) == {"discord:42"} and policy.reviewed_channels == {"c1"}

    # Every change is in the audit log, newest first, naming the moderator.
    entries = await core.store.moderation.recent(admin.scope.key, 50)
    assert [entry.detail["action"] for entry in entries][::-1] == [
        "channel",
        "channel default",
        "roles allow",
        "roles deny",
        "ban",
        "strictness",
        "output",
        "nsfw",
        "logchannel",
        "review",
    ]
    assert {entry.event for entry in entries} == {AuditEvent.MOD_ACTION}
    assert {entry.user_name for entry in entries} == {"user boss"}

    # Undoing: this channel follows the default again, review off, roles cleared, output and nsfw back.
    for line in ["/mod channel reset", "/mod review off", "/mod roles clear", "/mod nsfw off", "/mod logchannel off"]:
        await say(core, line, admin, RecordingReply())
    policy = await core.store.moderation.policy(admin.scope.key)
    assert policy.channels == {DEFAULT_CHANNEL: ChannelMode.CHAT}
    assert not policy.reviewed_channels and not policy.allowed_roles and not policy.denied_roles
    summary = RecordingReply()
    await say(core, "/mod", admin, summary)
    assert "<#c1> follows the default" in summary.texts[0]
    assert "Moderators' channel: not set" in summary.texts[0]


async def test_bad_values_are_one_clear_line_and_change_nothing(core: Atelier) -> None:
    admin = make_request("boss", admin=True, platform="discord")
    admin.channel = "c1"
    cases = {
        "/mod channel sometimes": "Usage: /mod channel images|chat|all|off",
        "/mod strictness extreme": "Usage: /mod strictness low|medium|high",
        "/mod output hide": "Usage: /mod output withhold|spoiler",
        "/mod nsfw maybe": "Usage: /mod nsfw on|off",
        "/mod review sometimes": "Usage: /mod review on|off",
        "/mod review on": "Set /mod logchannel in your moderators' channel first",
        "/mod logchannel": "cannot be used here",  # this request has no origin to post to
        "/mod roles allow Artists": "Name the role",
        "/mod log 0": "Usage: /mod log [N]",
        "/mod log 51": "Usage: /mod log [N]",
        "/mod ban": "Usage: /mod ban",
        "/mod ban @someone": "Usage: /mod ban",
        "/mod ban <@42> 7days": "'7days' is no duration",
        "/mod ban <@boss>": "Usage: /mod ban",
        "/mod ban <@!boss> 1d": "Usage: /mod ban",
        "/mod ban boss": "Usage: /mod ban",
    }
    for line, said in cases.items():
        reply = RecordingReply()
        await say(core, line, admin, reply)
        assert len(reply.errors) == 1 and said in reply.errors[0], (line, reply.errors)
    policy = await core.store.moderation.policy(admin.scope.key)
    assert not policy.channels and not policy.bans and not policy.reviewed_channels
    assert await core.store.moderation.recent(admin.scope.key, 50) == []


async def test_blocked_terms_are_added_listed_and_removed(core: Atelier) -> None:
    admin = make_request("boss", admin=True)
    added = RecordingReply()
    await say(core, "/mod block add  red fox ", admin, added)
    assert added.texts == ['Blocked "red fox": prompts, edits, chat and /ask containing it are refused here.']
    again = RecordingReply()
    await say(core, "/mod block add red fox", admin, again)
    assert again.texts == ['"red fox" was already blocked here.']
    await say(core, "/mod block add re:c[a@]t+", admin, RecordingReply())
    for bad, said in {"re:(unclosed": "", "x" * 201: "at most 200 characters", "": "Usage: /mod block add"}.items():
        reply = RecordingReply()
        await say(core, f"/mod block add {bad}", admin, reply)
        assert len(reply.errors) == 1 and said in reply.errors[0] and not reply.texts, bad
    listing = RecordingReply()
    await say(core, "/mod block list", admin, listing)
    assert listing.texts == ["Blocked here (2):\nre:c[a@]t+\nred fox"]
    assert (await core.store.moderation.policy(admin.scope.key)).terms == ("re:c[a@]t+", "red fox")

    removed, missing = RecordingReply(), RecordingReply()
    await say(core, "/mod block remove red fox", admin, removed)
    await say(core, "/mod block remove red fox", admin, missing)
    assert removed.texts == ['"red fox" is no longer blocked here.']
    assert "is not on this server's list" in missing.errors[0]
    actions = [
        (e.detail["action"], e.detail["subject"]) for e in await core.store.moderation.recent(admin.scope.key, 9)
    ]
    assert actions == [("block remove", "red fox"), ("block add", "re:c[a@]t+"), ("block add", "red fox")]


async def test_a_scope_blocks_at_most_a_thousand_terms(core: Atelier) -> None:
    admin = make_request("boss", admin=True)
    for index in range(1000):
        assert await core.store.moderation.add_term(admin.scope.key, f"term{index}")
    reply = RecordingReply()
    await say(core, "/mod block add one more", admin, reply)
    assert "already blocks 1000 terms" in reply.errors[0]
    listing = RecordingReply()
    await say(core, "/mod block list", admin, listing)
    assert listing.texts[0].startswith("Blocked here (1000):") and len(listing.texts[0]) <= 2000


async def test_the_operator_list_is_mentioned_not_listed(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, moderation_blocklist="secretword"))
    try:
        admin = make_request("boss", admin=True)
        listing, summary = RecordingReply(), RecordingReply()
        await say(core, "/mod block list", admin, listing)
        await say(core, "/mod", admin, summary)
    finally:
        await core.close()
    assert listing.texts == ["This server blocks no terms of its own. The operator's own list applies too."]
    assert "plus the operator's list" in summary.texts[0]
    assert "secretword" not in listing.texts[0] + summary.texts[0]


async def test_role_lists_are_a_discord_feature(core: Atelier) -> None:
    admin = make_request("boss", admin=True, platform="telegram")
    for line in ["/mod roles allow 7", "/mod roles clear"]:
        reply = RecordingReply()
        await say(core, line, admin, reply)
        assert reply.errors == ["Role lists are a Discord feature."]
    summary = RecordingReply()
    await say(core, "/mod", admin, summary)
    assert "Roles:" not in summary.texts[0]


async def test_bans_by_mention_id_or_target_with_and_without_a_duration(core: Atelier) -> None:
    wall = FakeClock(NOW)
    mod = ModCommand(core.settings, core.store, wall=wall)
    admin = make_request("boss", admin=True, platform="discord")
    scope = admin.scope.key

    async def run(command: Moderate) -> RecordingReply:
        reply = RecordingReply()
        await mod.run(admin, command, reply)
        return reply

    said = await run(parse_line("/mod ban <@!42> 7d spamming the channel", []))  # type: ignore[arg-type]
    assert said.texts == ["<@42> is banned from the bot here for 7 days. Reason: spamming the channel"]
    said = await run(parse_line("/mod ban 43", []))  # type: ignore[arg-type]
    assert said.texts == ["43 is banned from the bot here until /mod unban."]
    target = User("discord", "44", "Mallory")
    said = await run(Moderate("ban", "30m", target=target))  # a Discord user option or a Telegram reply
    assert said.texts == ["Mallory is banned from the bot here for 30 minutes."]

    bans = {ban.user_key: ban for ban in await core.store.moderation.bans(scope, NOW)}
    assert bans["discord:42"].until == NOW + 7 * 86400 and bans["discord:42"].reason == "spamming the channel"
    assert bans["discord:43"].until is None
    assert bans["discord:44"].until == NOW + 1800 and bans["discord:44"].user_name == "Mallory"
    assert {ban.by for ban in bans.values()} == {"user boss"}

    listing = (await run(Moderate("bans"))).texts[0]
    assert "Banned here (3):" in listing
    assert "<@42> (discord:42) until 2026-12-09 18:00 UTC, by user boss: spamming the channel" in listing
    assert "43 (discord:43) until unbanned" in listing
    assert "Mallory (discord:44) until 2026-12-02 18:30 UTC" in listing

    assert (await run(Moderate("ban", "<@boss>"))).errors  # not a Discord id
    assert (await run(Moderate("ban", target=admin.user))).errors == ["You cannot ban yourself."]

    assert (await run(Moderate("unban", "<@42>"))).texts == ["<@42> may use the bot here again."]
    assert (await run(Moderate("unban", "42"))).texts == ["42 was not banned here."]
    assert (await run(Moderate("unban", target=target))).texts == ["Mallory may use the bot here again."]
    assert [ban.user_key for ban in await core.store.moderation.bans(scope, NOW)] == ["discord:43"]

    log = [entry.detail for entry in await core.store.moderation.recent(scope, 10)]
    assert {"action": "ban", "subject": "discord:44", "until": NOW + 1800, "reason": ""} in log
    assert [d["action"] for d in log].count("unban") == 2


async def test_the_log_shows_entries_one_a_line(core: Atelier) -> None:
    wall = FakeClock(NOW)
    mod = ModCommand(core.settings, core.store, wall=wall)
    admin = make_request("boss", admin=True)
    empty = RecordingReply()
    await mod.run(admin, Moderate("log"), empty)
    assert empty.texts == ["The moderation log here is empty."]

    await core.store.moderation.record(
        admin.scope.key,
        AuditEvent.REFUSED,
        user_key="test:u9",
        user_name="user u9",
        at=NOW - 60,
        job_id="0123456789abcdef",
        detail={"rule": "blocklist", "categories": ["violence"]},
    )
    await mod.run(admin, Moderate("strictness", "low"), RecordingReply())
    log = RecordingReply()
    await mod.run(admin, Moderate("log", "5"), log)
    lines = log.texts[0].splitlines()
    assert lines[0] == "Last 2 log entries (newest first):"
    assert lines[1] == "2026-12-02 18:00 UTC · mod_action · user boss · strictness low"
    assert lines[2] == (
        "2026-12-02 17:59 UTC · refused · user u9 · rule blocklist · categories violence · job 01234567"
    )


async def test_a_long_log_fits_one_message(core: Atelier) -> None:
    admin = make_request("boss", admin=True)
    for index in range(50):
        await core.store.moderation.record(
            admin.scope.key, AuditEvent.REFUSED, user_key="test:u9", user_name="x" * 150, at=NOW + index
        )
    reply = RecordingReply()
    await say(core, "/mod log 50", admin, reply)
    assert len(reply.texts[0]) <= 2000 and reply.texts[0].endswith("more")


def test_help_shows_the_mod_commands_to_admins_only() -> None:
    from bot.commands.help import help_for

    assert help_for(False) == HELP and "/mod " not in HELP
    admin_help = help_for(True)
    assert MOD_HELP in admin_help
    for subcommand in ("block add", "ban", "unban", "bans", "channel", "roles allow", "strictness", "output"):
        assert f"/mod {subcommand}" in MOD_HELP
    for subcommand in ("nsfw", "log", "logchannel", "review"):
        assert f"/mod {subcommand}" in MOD_HELP
    assert "/mod status" in MOD_HELP  # Discord's name for the summary


async def test_help_through_the_core_follows_is_admin(core: Atelier) -> None:
    member, admin = RecordingReply(), RecordingReply()
    await say(core, "/help", make_request("u1"), member)
    await say(core, "/help", make_request("u1", admin=True), admin)
    assert "/mod " not in member.texts[0] and "/mod block add" in admin.texts[0]


def test_usage_names_every_subcommand() -> None:
    for word in ("block", "ban", "unban", "bans", "channel", "roles", "strictness", "output", "nsfw", "log", "review"):
        assert f"/mod {word}" in MOD_USAGE


async def test_a_private_scope_has_no_members_channels_or_review_queue(core: Atelier) -> None:
    own = make_request("me", guild=None, admin=True)
    own.origin = json.dumps({"chat": "me"})
    await say(core, "/mod logchannel", own, RecordingReply())
    review = RecordingReply()
    await say(core, "/mod review on", own, review)
    assert review.errors == ["The review queue is for servers and groups: here nobody else would approve your results."]
    summary = RecordingReply()
    await say(core, "/mod", own, summary)
    text = summary.texts[0]
    assert "Blocked terms: 0 here" in text and "Moderators' channel: set" in text
    for absent in ("Channels:", "Banned:", "Review queue:", "Roles:"):
        assert absent not in text


async def test_every_parsed_subcommand_has_a_handler(core: Atelier) -> None:
    from bot.parsing import MOD_SUBCOMMANDS

    admin = make_request("boss", admin=True, platform="discord")
    for first, seconds in MOD_SUBCOMMANDS.items():
        for line in [f"/mod {first} {second}" for second in seconds] or [f"/mod {first}"]:
            reply = RecordingReply()
            await say(core, line, admin, reply)
            assert MOD_USAGE not in reply.everything, line
