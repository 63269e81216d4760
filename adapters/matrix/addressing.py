"""Is this message for us? In a DM: always. In a room: a `!command` the bot has, a mention of the bot,
a reply to one of its messages, or a message in a thread it answers in. Commands are split by the core's
one text parser, given the `!` Matrix bots use in place of `/`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.command import command_name
from bot.messages import Action
from bot.parsing import CommandLine, split_command

PREFIX = "!"
# Replies to a result that press one of its buttons: `!reroll`, `!vary` (and `!edit <what to change>`).
ACTION_WORDS = {"reroll": Action.REROLL, "vary": Action.VARY}


@dataclass(frozen=True)
class Addressed:
    """What the message says to us: a command, or plain text (with any mention of us taken out)."""

    text: str
    command: CommandLine | None = None


def split_bang(text: str) -> CommandLine | None:
    """`!imagine a cat` -> the parser's CommandLine("imagine", None, "a cat")."""
    text = text.strip()
    if not text.startswith(PREFIX) or text.startswith(PREFIX * 2):
        return None
    return split_command("/" + text[1:])


def address(
    text: str, *, private: bool, user_id: str, display_name: str, mentioned: bool, ours: bool
) -> Addressed | None:
    """`mentioned`: the event's m.mentions names the bot; `ours`: a reply to the bot, or a message in a
    thread it answers in."""
    stripped, named = without_mention(text.strip(), user_id, display_name)
    addressed = private or ours or mentioned or named
    command = split_bang(stripped)
    if command is not None:
        known = command_name(command.name) is not None or command.name in ACTION_WORDS
        return Addressed("", command) if known or addressed else None  # else probably another bot's
    return Addressed(stripped) if addressed else None


def without_mention(text: str, user_id: str, display_name: str) -> tuple[str, bool]:
    """The text without the bot's name as clients write a mention: its user id anywhere, or its display
    name opening the message (`Atelier: hi`, what a pill leaves in the plain body)."""
    by_id = re.compile(rf"(?<![\w@]){re.escape(user_id)}(?![\w.-])[:,]?", re.IGNORECASE)
    if by_id.search(text):
        return " ".join(by_id.sub(" ", text).split()), True
    if display_name:
        opening = re.compile(rf"^@?{re.escape(display_name)}[:,]\s*", re.IGNORECASE)
        if opening.match(text):
            return opening.sub("", text, count=1).strip(), True
    return text, False
