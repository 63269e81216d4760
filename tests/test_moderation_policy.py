"""Who may use the bot where: each access rule, its order, and what the refused person reads."""

from __future__ import annotations

import calendar

import pytest

from bot.messages import Request, Scope, ScopeKind, User
from bot.moderation.policy import Use, access_refusal, channel_mode
from bot.store.moderation import DEFAULT_CHANNEL, Ban, ChannelMode, ScopePolicy

NOW = 1_800_000_000.0
PRIVATE_CHATS = "This bot works in servers and groups only, not in private chats."
OFF = "Atelier is switched off in this channel."
DENIED_ROLE = "Your role can't use Atelier here."
NO_ALLOWED_ROLE = "Atelier here is for members with an allowed role."


def request(
    platform: str = "discord",
    kind: ScopeKind = ScopeKind.GUILD,
    *,
    channel: str = "c1",
    roles: tuple[str, ...] = (),
    admin: bool = False,
    user: str = "u1",
) -> Request:
    return Request(
        user=User(platform, user, "Ann"),
        scope=Scope(platform, kind, "g1"),
        conversation="conv",
        is_admin=admin,
        channel=channel,
        roles=roles,
    )


def refusal(policy: ScopePolicy, req: Request, use: Use = Use.IMAGES, *, allow_private: bool = True) -> str | None:
    return access_refusal(policy, req, use, now=NOW, allow_private=allow_private)


def banned(until: float | None, reason: str = "spam", user: str = "discord:u1") -> ScopePolicy:
    return ScopePolicy(bans={user: Ban(user, "Ann", until, reason, "Mo")})


def test_an_open_scope_refuses_no_one() -> None:
    for use in Use:
        assert refusal(ScopePolicy(), request(), use) is None
        assert refusal(ScopePolicy(), request("telegram", channel=""), use) is None


def test_private_chats_only_when_the_operator_allows_them() -> None:
    dm = request(kind=ScopeKind.PRIVATE, channel="")
    assert refusal(ScopePolicy(), dm, allow_private=False) == PRIVATE_CHATS
    assert refusal(ScopePolicy(), request("telegram", ScopeKind.PRIVATE), Use.CHAT, allow_private=False) == (
        PRIVATE_CHATS
    )
    assert refusal(ScopePolicy(), request(admin=True, kind=ScopeKind.PRIVATE), allow_private=False) == PRIVATE_CHATS
    assert refusal(ScopePolicy(), dm, allow_private=True) is None
    # Guilds are not private chats.
    assert refusal(ScopePolicy(), request(), allow_private=False) is None


def test_the_console_is_never_refused() -> None:
    everything_closed = ScopePolicy(
        channels={DEFAULT_CHANNEL: ChannelMode.OFF},
        bans={"console:u1": Ban("console:u1", "Ann", None, "", "Mo")},
        allowed_roles=frozenset({"r1"}),
    )
    console = request("console", ScopeKind.PRIVATE, channel="")
    for use in Use:
        assert refusal(everything_closed, console, use, allow_private=False) is None


def test_a_ban_with_an_end_says_when_it_ends_and_why() -> None:
    until = calendar.timegm((2027, 3, 4, 18, 30, 0))
    assert refusal(banned(until), request(), Use.CHAT) == (
        "You can't use Atelier here: a moderator banned you until 2027-03-04 18:30 UTC (spam)."
    )
    assert refusal(banned(until, reason=""), request()) == (
        "You can't use Atelier here: a moderator banned you until 2027-03-04 18:30 UTC."
    )


def test_a_ban_without_an_end_lasts_until_lifted() -> None:
    assert refusal(banned(None), request()) == (
        "You can't use Atelier here: a moderator banned you until a moderator lifts the ban (spam)."
    )


def test_an_expired_ban_an_admin_or_someone_else_pass() -> None:
    assert refusal(banned(NOW), request()) is None  # ended at this very second
    assert refusal(banned(NOW - 60), request()) is None
    assert refusal(banned(None), request(admin=True)) is None
    assert refusal(banned(None), request(user="u2")) is None
    assert refusal(banned(None, user="telegram:u1"), request("telegram")) is not None  # bans work on Telegram


def test_a_ban_comes_before_the_channel_rule() -> None:
    policy = ScopePolicy(channels={"c1": ChannelMode.OFF}, bans=banned(None).bans)
    assert refusal(policy, request()) == refusal(banned(None), request()) != OFF


def test_channel_modes_follow_the_channel_then_the_default_then_all() -> None:
    policy = ScopePolicy(channels={"c1": ChannelMode.CHAT, DEFAULT_CHANNEL: ChannelMode.OFF})
    assert channel_mode(policy, "c1") is ChannelMode.CHAT
    assert channel_mode(policy, "c2") is ChannelMode.OFF
    assert channel_mode(ScopePolicy(), "c2") is ChannelMode.ALL
    assert channel_mode(ScopePolicy(channels={"c1": ChannelMode.IMAGES}), "c2") is ChannelMode.ALL


def test_a_channel_switched_off_refuses_everyone_including_admins() -> None:
    policy = ScopePolicy(channels={"c1": ChannelMode.OFF})
    for use in Use:
        assert refusal(policy, request(), use) == OFF
        assert refusal(policy, request(admin=True), use) == OFF
    assert refusal(policy, request(channel="c2")) is None
    # The default applies to channels without a rule of their own, Telegram topics too.
    default_off = ScopePolicy(channels={DEFAULT_CHANNEL: ChannelMode.OFF, "7": ChannelMode.ALL})
    assert refusal(default_off, request("telegram", channel="12")) == OFF
    assert refusal(default_off, request("telegram", channel="7")) is None


@pytest.mark.parametrize(
    ("channels", "use", "expected"),
    [
        # A chat-only channel refusing /imagine, with images allowed in the rest of the server.
        (
            {"c1": ChannelMode.CHAT},
            Use.IMAGES,
            "This channel is for chat only: ask for images in another channel instead.",
        ),
        (
            {"c1": ChannelMode.IMAGES},
            Use.CHAT,
            "This channel is for images only: chat in another channel instead.",
        ),
        # On Discord, channels that allow it by their own rule are named (a mention is a link there).
        (
            {"c1": ChannelMode.IMAGES, DEFAULT_CHANNEL: ChannelMode.OFF, "c9": ChannelMode.CHAT, "c5": ChannelMode.ALL},
            Use.CHAT,
            "This channel is for images only: chat in <#c5> or <#c9> instead.",
        ),
        # Nowhere is known to allow it: say only what this channel is for.
        ({DEFAULT_CHANNEL: ChannelMode.IMAGES}, Use.CHAT, "This channel is for images only."),
        ({"c1": ChannelMode.CHAT, DEFAULT_CHANNEL: ChannelMode.OFF}, Use.IMAGES, "This channel is for chat only."),
    ],
)
def test_a_channel_for_one_use_refuses_the_other_and_says_where_it_works(
    channels: dict[str, ChannelMode], use: Use, expected: str
) -> None:
    policy = ScopePolicy(channels=channels)
    assert refusal(policy, request(), use) == expected
    assert refusal(policy, request(admin=True), use) == expected  # channel rules are for everyone
    other = Use.CHAT if use is Use.IMAGES else Use.IMAGES
    assert refusal(policy, request(), other) is None


def test_telegram_topics_are_not_named_they_have_no_mention() -> None:
    policy = ScopePolicy(channels={"3": ChannelMode.IMAGES, DEFAULT_CHANNEL: ChannelMode.OFF, "4": ChannelMode.CHAT})
    assert refusal(policy, request("telegram", channel="3"), Use.CHAT) == (
        "This channel is for images only: chat in another channel instead."
    )


def test_a_denied_role_is_refused_even_with_an_allowed_one() -> None:
    policy = ScopePolicy(allowed_roles=frozenset({"r-team"}), denied_roles=frozenset({"r-muted"}))
    assert refusal(policy, request(roles=("r-team", "r-muted"))) == DENIED_ROLE
    assert refusal(policy, request(roles=("r-team",)), Use.CHAT) is None


def test_an_allow_list_refuses_members_without_an_allowed_role() -> None:
    policy = ScopePolicy(allowed_roles=frozenset({"r-team", "r-staff"}))
    assert refusal(policy, request(roles=("r-guest",))) == NO_ALLOWED_ROLE
    assert refusal(policy, request(roles=())) == NO_ALLOWED_ROLE  # no roles at all
    assert refusal(policy, request(roles=("r-guest", "r-staff"))) is None
    # A deny list alone lets everyone else in.
    assert refusal(ScopePolicy(denied_roles=frozenset({"r-muted"})), request(roles=("r-guest",))) is None


def test_admins_and_private_scopes_pass_role_lists() -> None:
    policy = ScopePolicy(allowed_roles=frozenset({"r-team"}), denied_roles=frozenset({"r-muted"}))
    assert refusal(policy, request(roles=("r-muted",), admin=True)) is None
    assert refusal(policy, request(kind=ScopeKind.PRIVATE, roles=("r-muted",))) is None


def test_the_channel_rule_comes_before_roles() -> None:
    policy = ScopePolicy(channels={"c1": ChannelMode.OFF}, denied_roles=frozenset({"r-muted"}))
    assert refusal(policy, request(roles=("r-muted",))) == OFF
