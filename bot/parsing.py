"""The one parser of the text form, shared by the console and Telegram:
`/imagine a lighthouse at dusk --size 1024x768 --seed 7` -> Imagine(GenerationParams(...)).
Plain text (no leading `/command`) is chat."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.command import (
    Ask,
    Blend,
    Cancel,
    ChangeSettings,
    Chat,
    Command,
    CommandName,
    Describe,
    Edit,
    GenerationParams,
    Help,
    Imagine,
    Info,
    Invalid,
    Models,
    Moderate,
    Reset,
    Usage,
    UsageReport,
    command_name,
)
from bot.sizes import format_size, nearest_size, parse_ratio, parse_size

FLAGS_HELP = (
    "--size WxH (e.g. 1024x768), --ar W:H (e.g. 16:9, mapped to the nearest allowed size), "
    "--seed N, --n 1|2|4 (a grid), --model NAME, --no THINGS (what to avoid), "
    "--enhance (the chat model details your prompt first)"
)
PERSONA = "persona"  # `/settings persona <text>`: the chat's system prompt in this channel
SETTINGS_USAGE = (
    "Usage: `/settings` shows them; `/settings user_quota 10`, `/settings guild_quota 100`, "
    "`/settings rate 3`, `/settings model NAME`, `/settings images_per_prompt 4`, "
    "`/settings chat_tools off`, `/settings persona <how the assistant "
    "behaves in this channel>`; `/settings reset` (or "
    "`/settings reset rate`) goes back to defaults."
)
USAGE_USAGE = (
    "Usage: `/usage` (today), `/usage chart` (30 days as a picture); for admins `/usage top` (this week's most "
    "active members) and `/usage export` (a CSV of this server's jobs)."
)
# `/mod` subcommands: the two-word ones with their second words.
MOD_SUBCOMMANDS: dict[str, tuple[str, ...]] = {
    "block": ("add", "remove", "list"),
    "ban": (),
    "unban": (),
    "bans": (),
    "channel": (),
    "roles": ("allow", "deny", "clear"),
    "strictness": (),
    "output": (),
    "nsfw": (),
    "log": (),
    "logchannel": (),
    "review": (),
}
MOD_USAGE = (
    "Usage: `/mod` shows this server's rules; `/mod block add|remove|list`, `/mod ban`, `/mod unban`, `/mod bans`, "
    "`/mod channel`, `/mod roles allow|deny|clear`, `/mod strictness`, `/mod output`, `/mod nsfw`, `/mod log`, "
    "`/mod logchannel`, `/mod review on|off`. /help explains each."
)
_ROLE = re.compile(r"^(?:<@&(\d{1,20})>|(\d{1,20}))$")
_FLAGS = ("--size", "--ar", "--seed", "--model", "--no", "--enhance", "--n")
# How many images one prompt may ask for (`--n`, `/settings images_per_prompt`): a grid is 2x1 or 2x2.
IMAGE_COUNTS = (1, 2, 4)
# Em dash, en dash, minus sign: what phone keyboards make of a typed `--`.
_DASHES = "\u2014\u2013\u2212"
# Telegram's command grammar: letters, digits and underscores, optionally addressed `/cmd@SomeBot`.
_COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@([A-Za-z0-9_]+))?(?=\s|$)(.*)$", re.DOTALL)


class UsageError(Exception):
    """The request is malformed; the message says what is valid."""


@dataclass(frozen=True)
class CommandLine:
    """A `/command` split from its arguments, before its arguments are parsed."""

    name: str  # lower case, as typed
    addressed_to: str | None  # the bot named in `/cmd@SomeBot`
    args: str


def split_command(line: str) -> CommandLine | None:
    """`/imagine@OurBot a cat` -> ("imagine", "OurBot", "a cat"); None for text that is no command."""
    match = _COMMAND.match(line.strip())
    if not match:
        return None
    return CommandLine(match.group(1).lower(), match.group(2), match.group(3).strip())


def parse_line(line: str, allowed_sizes: list[tuple[int, int]]) -> Command:
    """A whole line of the text form: a command, or chat when it is none."""
    command = split_command(line)
    if command is None:
        return Chat(line.strip())
    return parse_command(command, allowed_sizes)


def parse_command(command: CommandLine, allowed_sizes: list[tuple[int, int]]) -> Command:
    """The typed command for a split `/command`; Invalid (saying what is valid) when it is malformed."""
    name = command_name(command.name)
    if name is None:
        return Invalid(f"Unknown command /{command.name}. Try /help.")
    try:
        return _PARSERS[name](command.args, allowed_sizes)
    except UsageError as exc:
        return Invalid(str(exc))


def _settings(args: str, _sizes: list[tuple[int, int]]) -> Command:
    first, _, rest = args.strip().partition(" ")
    if first.lower() == PERSONA:  # the rest is free text, spaces and case kept
        return ChangeSettings(PERSONA, rest.strip() or None)
    words = args.split()
    if len(words) > 2:
        raise UsageError(SETTINGS_USAGE)
    return ChangeSettings(*(word.lower() if index == 0 else word for index, word in enumerate(words)))


def _moderate(args: str, _sizes: list[tuple[int, int]]) -> Command:
    """`/mod roles allow <@&123>` -> Moderate("roles allow", "<@&123>", role="123"). The argument keeps its case
    (a `re:` term, a reason)."""
    words = args.split(None, 1)
    if not words:
        return Moderate()
    sub, rest = words[0].lower(), words[1] if len(words) > 1 else ""
    if sub not in MOD_SUBCOMMANDS:
        raise UsageError(f"Unknown /mod subcommand '{_shown(words[0])}'. {MOD_USAGE}")
    seconds = MOD_SUBCOMMANDS[sub]
    if not seconds:
        return Moderate(sub, rest.strip())
    more = rest.split(None, 1)
    if not more or more[0].lower() not in seconds:
        raise UsageError(f"Usage: /mod {sub} {'|'.join(seconds)}. /help explains each.")
    argument = more[1].strip() if len(more) > 1 else ""
    role = None
    if sub == "roles" and (match := _ROLE.match(argument)):
        role = match.group(1) or match.group(2)
    return Moderate(f"{sub} {more[0].lower()}", argument, role=role)


def _usage(args: str, _sizes: list[tuple[int, int]]) -> Command:
    try:
        return Usage(UsageReport(args.strip().lower()))
    except ValueError:
        raise UsageError(USAGE_USAGE) from None


def _shown(text: str) -> str:
    return text if len(text) <= 24 else text[:23] + "…"


_Sizes = list[tuple[int, int]]
_PARSERS: dict[CommandName, Callable[[str, _Sizes], Command]] = {
    CommandName.IMAGINE: lambda args, sizes: Imagine(parse_generation(args, sizes)),
    CommandName.EDIT: lambda args, sizes: Edit(parse_generation(args, sizes)),
    CommandName.BLEND: lambda args, sizes: Blend(parse_generation(args, sizes)),
    CommandName.ASK: lambda args, _: Ask(args),
    CommandName.CHAT: lambda args, _: Chat(args),
    CommandName.THINK: lambda args, _: Chat(args, thinking=True),
    CommandName.DESCRIBE: lambda _args, _sizes: Describe(),
    CommandName.USAGE: _usage,
    CommandName.INFO: lambda _args, _sizes: Info(),
    CommandName.SETTINGS: _settings,
    CommandName.MODELS: lambda _args, _sizes: Models(),
    CommandName.CANCEL: lambda _args, _sizes: Cancel(),
    CommandName.RESET: lambda _args, _sizes: Reset(),
    CommandName.HELP: lambda _args, _sizes: Help(),
    CommandName.MOD: _moderate,
}


def parse_generation(args: str, allowed_sizes: list[tuple[int, int]]) -> GenerationParams:
    """Split a prompt from its flags. Raises UsageError naming what is valid."""
    words: list[str] = []
    options: dict[str, Any] = {}
    tokens = args.split()
    index = 0
    while index < len(tokens):
        token = _as_flag(tokens[index])
        if token is None:
            words.append(tokens[index])
            index += 1
            continue
        flag, _, inline = token.partition("=")
        if flag == "--no":
            # Takes every word up to the next flag.
            rest = [inline] if inline else []
            index += 1
            while index < len(tokens) and _as_flag(tokens[index]) is None:
                rest.append(tokens[index])
                index += 1
            if not rest:
                raise UsageError("--no needs the things to avoid, e.g. --no text, watermark")
            options["negative_prompt"] = " ".join(rest)
            continue
        if flag == "--enhance":  # a switch: takes no value
            if inline:
                raise UsageError("--enhance takes no value: add it to the prompt, e.g. /imagine a fox --enhance")
            options["enhance"] = True
            index += 1
            continue
        value = inline or (tokens[index + 1] if index + 1 < len(tokens) else "")
        index += 1 if inline else 2
        options.update(_flag_option(flag, value, allowed_sizes))
    return GenerationParams(prompt=" ".join(words).strip(), **options)


def _as_flag(token: str) -> str | None:
    """`--ar=16:9` as typed, or as a phone's keyboard rewrites it (`\u2014ar`, `\u2013ar`: em or en dash), normalised
    to `--name[=value]`; None for a prompt word. A dash-led word that names no flag ("—softly") stays prose."""
    name = token.lstrip("-" + _DASHES)
    leading = token[: len(token) - len(name)]
    if not name or not leading:
        return None
    flag, equals, value = name.partition("=")
    normalised = f"--{flag.lower()}{equals}{value}"
    if any(dash in leading for dash in _DASHES):
        return normalised if f"--{flag.lower()}" in _FLAGS else None
    if leading == "--":
        return normalised
    return token if leading.startswith("--") else None  # `---x`: an unknown option, said so


def negative_prompt_ignored(model: str, negative: str) -> str:
    """The caption's note when a model has no negative prompt: the words are left out (as the parser took
    them out of the prompt), and the note says so, so what it says and what was done agree."""
    shown = negative if len(negative) <= 60 else negative[:59] + "…"
    return f'--no was ignored: {model} has no negative prompt, so "{shown}" was left out'


def _flag_option(flag: str, value: str, allowed: list[tuple[int, int]]) -> dict[str, Any]:
    if flag not in _FLAGS or flag in ("--no", "--enhance"):
        raise UsageError(f"Unknown option {flag}. Valid options: {FLAGS_HELP}.")
    if not value or _as_flag(value) is not None:
        raise UsageError(f"{flag} needs a value. Valid options: {FLAGS_HELP}.")
    if flag == "--size":
        return {"size": check_size(value, allowed)}
    if flag == "--ar":
        try:
            return {"size": nearest_size(parse_ratio(value), allowed)}
        except ValueError as exc:
            raise UsageError(f"{exc}. Use --ar W:H, e.g. --ar 16:9.") from None
    if flag == "--seed":
        seed = whole_number(value)
        if seed is None or seed > 2**32 - 1:
            shown = value if len(value) <= 24 else value[:23] + "…"
            raise UsageError(f"--seed takes a whole number from 0 to {2**32 - 1}, not '{shown}'.")
        return {"seed": seed}
    if flag == "--n":
        count = whole_number(value)
        if count not in IMAGE_COUNTS:
            raise UsageError("--n takes 1, 2 or 4 (images in one grid), e.g. /imagine a fox --n 4.")
        return {"count": count}
    return {"model": value}


def whole_number(text: str) -> int | None:
    """The number in `text` if it is ASCII digits only (`str.isdigit` also takes `²`, which `int()` refuses),
    and short enough to be a setting or a seed (`int()` refuses thousands of digits); else None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else None


def check_size(value: str, allowed: list[tuple[int, int]]) -> tuple[int, int]:
    listing = ", ".join(format_size(s) for s in allowed)
    try:
        size = parse_size(value)
    except ValueError as exc:
        raise UsageError(f"{exc}. Allowed sizes: {listing}.") from None
    if size not in allowed:
        raise UsageError(f"Size {value} is not offered. Allowed sizes: {listing}.")
    return size
