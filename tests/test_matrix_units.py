"""The Matrix adapter's converters, without a homeserver: which messages are for the bot, what an event
says, where answers go, and the core's `/command` wording as Matrix users type it."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.matrix.addressing import address
from adapters.matrix.events import Target, conversation_key, incoming, strip_reply_fallback, thread_of
from adapters.matrix.outbox import as_bang
from adapters.matrix.reactions import action_of
from adapters.matrix.rooms import Creators, creators_privileged
from adapters.matrix.settings import load_matrix_settings
from bot.config import SettingsError
from bot.messages import Action

BOT = "@atelier:example.org"


def said(text: str, *, private: bool = False, mentioned: bool = False, ours: bool = False) -> tuple | None:
    found = address(text, private=private, user_id=BOT, display_name="Atelier", mentioned=mentioned, ours=ours)
    if found is None:
        return None
    return (found.command.name, found.command.args) if found.command else ("chat", found.text)


def test_a_room_message_is_the_bots_only_when_addressed() -> None:
    assert said("!imagine a fox --ar 16:9") == ("imagine", "a fox --ar 16:9")
    assert said("!reroll") == ("reroll", "")
    assert said("!weather Paris") is None  # another bot's command
    assert said("just talking") is None
    assert said("Atelier: draw me a sheep") == ("chat", "draw me a sheep")  # a pill leaves the display name
    assert said(f"hey {BOT} what is 2+2?") == ("chat", "hey what is 2+2?")
    assert said("what is 2+2?", mentioned=True) == ("chat", "what is 2+2?")
    assert said("Atelier: !imagine a cat") == ("imagine", "a cat")
    assert said("I love this atelier") is None  # the name inside a sentence is no mention
    assert said("and then?", ours=True) == ("chat", "and then?")  # a reply to the bot, or in its thread


def test_in_a_dm_every_plain_message_is_chat_and_any_command_is_answered() -> None:
    assert said("hello", private=True) == ("chat", "hello")
    assert said("!weather", private=True) == ("weather", "")  # the core says it is unknown
    assert said("!!wow", private=True) == ("chat", "!!wow")


def test_an_event_is_read_with_its_thread_reply_and_image() -> None:
    threaded = {
        "event_id": "$b",
        "sender": "@a:x",
        "content": {
            "msgtype": "m.text",
            "body": "> <@bot:x> earlier\n\n!edit bluer",
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": "$root",
                "is_falling_back": False,
                "m.in_reply_to": {"event_id": "$img"},
            },
        },
    }
    message = incoming("!r:x", threaded)
    assert message is not None
    assert (message.thread_root, message.reply_to, message.text) == ("$root", "$img", "!edit bluer")
    fallback = {**threaded, "content": {**threaded["content"], "body": "more"}}
    fallback["content"]["m.relates_to"] = {**threaded["content"]["m.relates_to"], "is_falling_back": True}
    assert incoming("!r:x", fallback).reply_to is None  # type: ignore[union-attr]  # a thread's fallback is no reply
    captioned = {"event_id": "$c", "sender": "@a:x", "content": {"msgtype": "m.image", "body": "!ask what?",
                 "filename": "a.png", "url": "mxc://x/abc", "info": {"mimetype": "image/png", "size": 5}}}  # fmt: skip
    image = incoming("!r:x", captioned)
    assert image is not None and image.text == "!ask what?" and image.image is not None
    assert image.image.url == "mxc://x/abc" and image.image.size == 5
    plain_file = {**captioned, "content": {**captioned["content"], "body": "a.png"}}
    assert incoming("!r:x", plain_file).text == ""  # type: ignore[union-attr]
    edit = {"event_id": "$e", "sender": "@a:x", "content": {"body": "* x", "m.relates_to": {"rel_type": "m.replace"}}}
    assert incoming("!r:x", edit) is None
    assert strip_reply_fallback("no quote") == "no quote"


def test_answers_go_in_the_thread_or_as_a_dm_reply() -> None:
    in_room = Target("!r:x", "$root", "$req")
    assert in_room.relation(reply=True) == {
        "rel_type": "m.thread", "event_id": "$root", "is_falling_back": False, "m.in_reply_to": {"event_id": "$req"}
    }  # fmt: skip
    assert in_room.relation(reply=False)["is_falling_back"] is True
    dm = Target("!d:x", None, "$req")
    assert dm.content({"body": "hi"}, reply=True) == {
        "body": "hi",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$req"}},
    }
    assert dm.content({"body": "hi"}, reply=False) == {"body": "hi"}
    assert thread_of(conversation_key("!r:x", "$root")) == "$root" and thread_of(conversation_key("!d:x", None)) is None


def test_the_cores_wording_names_the_bang_commands() -> None:
    assert (
        as_bang("Try /help, or reply with `/edit make it snowy`.") == "Try !help, or reply with `!edit make it snowy`."
    )
    assert as_bang("see https://example.org/imagine and a/edit") == "see https://example.org/imagine and a/edit"


def test_reaction_keys_with_or_without_the_variation_selector() -> None:
    assert action_of("✏️") == action_of("✏") == Action.EDIT
    assert action_of("🔁") == Action.REROLL and action_of("👍") is None


def test_matrix_settings_need_a_homeserver_a_user_and_a_secret(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("MATRIX_HOMESERVER=https://matrix.example.org\nMATRIX_USER_ID=@a:example.org\nMATRIX_PASSWORD=\n")
    empty = load_matrix_settings(_env_file=env)
    assert not empty.configured and empty.matrix_password is None  # an empty value is unset
    env.write_text(env.read_text() + "MATRIX_ACCESS_TOKEN=syt_secret\n")
    configured = load_matrix_settings(_env_file=env)
    assert configured.configured and configured.secrets() == ["syt_secret"]
    with pytest.raises(SettingsError, match="MATRIX_EDIT_SECONDS"):
        load_matrix_settings(_env_file=env, matrix_edit_seconds=0)


def test_room_creators_are_admins_only_where_the_room_version_says_so() -> None:
    creators = Creators()
    create = {"type": "m.room.create", "state_key": "", "sender": "@a:x", "content": {"additional_creators": ["@b:x"]}}
    creators.note("!r", create)
    creators.note("!r", {"type": "m.room.name", "state_key": "", "sender": "@c:x", "content": {}})
    assert creators.of("!r") == {"@a:x", "@b:x"} and creators.of("!other") == frozenset()
    assert creators_privileged("12") and creators_privileged("org.matrix.hydra.11")
    assert not creators_privileged("11") and not creators_privileged("10")
