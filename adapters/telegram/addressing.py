"""Is this message for us? Groups: only when addressed; private chats: always.

A group message is ours when it is a command we know (`/imagine`, or `/imagine@OurBot`), mentions us
(`@OurBot ...`), or replies to one of our messages. `/cmd@OtherBot` and unknown bare commands (meant
for another bot) are left alone."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core import COMMANDS

_COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@([A-Za-z0-9_]+))?(?=\s|$)(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Addressed:
    """What to hand to the core: a command line without the `@OurBot` suffix, or plain text."""

    text: str
    command: str | None = None  # lower-case command name, when the text is a command


def address(text: str, *, private: bool, bot_username: str, replying_to_bot: bool) -> Addressed | None:
    text = text.strip()
    command = _COMMAND.match(text)
    if command is not None:
        return _as_command(command, private=private, bot_username=bot_username, replying_to_bot=replying_to_bot)
    mention = re.compile(rf"(?<![\w@])@{re.escape(bot_username)}(?!\w)", re.IGNORECASE)
    if mention.search(text):
        stripped = " ".join(mention.sub(" ", text).split())
        inner = _COMMAND.match(stripped)
        if inner is not None:  # "@OurBot /imagine a cat"
            return _as_command(inner, private=True, bot_username=bot_username, replying_to_bot=True)
        return Addressed(stripped)
    if private or replying_to_bot:
        return Addressed(text)
    return None


def _as_command(match: re.Match[str], *, private: bool, bot_username: str, replying_to_bot: bool) -> Addressed | None:
    name, target, rest = match.group(1).lower(), match.group(2), match.group(3)
    if target is not None and target.lower() != bot_username.lower():
        return None  # /cmd@OtherBot
    if name not in COMMANDS and target is None and not (private or replying_to_bot):
        return None  # a bare command we do not have: probably another bot's
    return Addressed(f"/{name} {rest.strip()}".strip(), name)
