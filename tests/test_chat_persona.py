"""`/settings persona`: a server's admins give a channel (or topic) its own system prompt."""

from __future__ import annotations

from dataclasses import replace

from bot.core import Atelier
from tests.fakes.agnes_server import FakeAgnes
from tests.recording import RecordingReply, make_request, say


def in_channel(channel: str, **kwargs: object):
    return replace(make_request(**kwargs), channel=channel)


def system_prompt(fake_agnes: FakeAgnes) -> str:
    return fake_agnes.chat_requests()[-1].body["messages"][0]["content"]


async def test_a_channels_persona_is_its_system_prompt_and_no_other_channels(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    admin = RecordingReply()
    await say(
        core, "/settings persona You are a pirate. Answer in Pirate English!", in_channel("c1", admin=True), admin
    )
    assert admin.texts == ["Persona set for this channel: new messages here follow it."]
    await say(core, "hello", in_channel("c1"), RecordingReply())
    assert system_prompt(fake_agnes) == "You are a pirate. Answer in Pirate English!"  # case and spaces kept
    await say(core, "hello", in_channel("c2"), RecordingReply())
    assert system_prompt(fake_agnes) == core.settings.chat_system_prompt
    shown = RecordingReply()
    await say(core, "/settings persona", in_channel("c1", admin=True), shown)
    assert shown.texts == ["Persona here: You are a pirate. Answer in Pirate English!"]
    listed = RecordingReply()
    await say(core, "/settings", in_channel("c1", admin=True), listed)
    assert "persona in this channel = You are a pirate." in listed.texts[0]


async def test_persona_reset_and_who_may_set_it(core: Atelier, fake_agnes: FakeAgnes) -> None:
    member = RecordingReply()
    await say(core, "/settings persona Be rude.", in_channel("c1"), member)
    assert member.errors and member.texts == []
    await say(core, "/settings persona Be kind.", in_channel("c1", admin=True), RecordingReply())
    cleared = RecordingReply()
    await say(core, "/settings persona reset", in_channel("c1", admin=True), cleared)
    assert cleared.texts == ["Persona cleared: the assistant is back to its default prompt here."]
    await say(core, "hello", in_channel("c1"), RecordingReply())
    assert system_prompt(fake_agnes) == core.settings.chat_system_prompt
    too_long = RecordingReply()
    await say(core, "/settings persona " + "x" * 2001, in_channel("c1", admin=True), too_long)
    assert too_long.errors == ["That persona is 2,001 characters; keep it under 2,000."]
