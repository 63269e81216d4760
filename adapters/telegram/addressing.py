"""Is this message for us? Groups: only when addressed; private chats: always.

A group message is ours when it is a command we know (`/imagine`, or `/imagine@OurBot`), mentions us
(`@OurBot ...`), or replies to one of our messages. `/cmd@OtherBot` and unknown bare commands (meant
for another bot) are left alone. Commands are split by the core's one text parser."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.command import command_name
from bot.parsing import CommandLine, split_command


@dataclass(frozen=True)
class Addressed:
    """What the message says to us: a command (without the `@OurBot` suffix), or plain text."""

    text: str  # the plain text, with any mention of us taken out; empty for a command
    command: CommandLine | None = None


def address(text: str, *, private: bool, bot_username: str, replying_to_bot: bool) -> Addressed | None:
    text = text.strip()
    command = split_command(text)
    if command is not None:
        return _as_command(command, private=private, bot_username=bot_username, replying_to_bot=replying_to_bot)
    mention = re.compile(rf"(?<![\w@])@{re.escape(bot_username)}(?!\w)", re.IGNORECASE)
    if mention.search(text):
        stripped = " ".join(mention.sub(" ", text).split())
        inner = split_command(stripped)
        if inner is not None:  # "@OurBot /imagine a cat"
            return _as_command(inner, private=True, bot_username=bot_username, replying_to_bot=True)
        return Addressed(stripped)
    if private or replying_to_bot:
        return Addressed(text)
    return None


def _as_command(command: CommandLine, *, private: bool, bot_username: str, replying_to_bot: bool) -> Addressed | None:
    target = command.addressed_to
    if target is not None and target.lower() != bot_username.lower():
        return None  # /cmd@OtherBot
    if command_name(command.name) is None and target is None and not (private or replying_to_bot):
        return None  # a bare command we do not have: probably another bot's
    return Addressed("", command)
