"""The text form of commands used by the console and Telegram:
`/imagine a lighthouse at dusk --size 1024x768 --seed 7`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.sizes import format_size, nearest_size, parse_ratio, parse_size

FLAGS_HELP = (
    "--size WxH (e.g. 1024x768), --ar W:H (e.g. 16:9, mapped to the nearest allowed size), "
    "--seed N, --model NAME, --no THINGS (what to avoid)"
)
_COMMAND = re.compile(r"^/([A-Za-z_]+)(?:@(\w+))?(?:\s+|$)(.*)$", re.DOTALL)


class UsageError(Exception):
    """The request is malformed; the message says what is valid."""


@dataclass
class CommandLine:
    name: str
    addressed_to: str | None
    args: str


def split_command(line: str) -> CommandLine | None:
    match = _COMMAND.match(line.strip())
    if not match:
        return None
    return CommandLine(match.group(1).lower(), match.group(2), match.group(3).strip())


@dataclass
class GenerationParams:
    prompt: str
    size: tuple[int, int] | None = None
    seed: int | None = None
    model: str | None = None
    negative_prompt: str | None = None

    def to_json(self) -> dict:
        return {
            "size": format_size(self.size) if self.size else None,
            "seed": self.seed,
            "model": self.model,
            "negative_prompt": self.negative_prompt,
        }

    @classmethod
    def from_json(cls, prompt: str, data: dict) -> GenerationParams:
        return cls(
            prompt=prompt,
            size=parse_size(data["size"]) if data.get("size") else None,
            seed=data.get("seed"),
            model=data.get("model"),
            negative_prompt=data.get("negative_prompt"),
        )


def parse_generation(args: str, allowed_sizes: list[tuple[int, int]]) -> GenerationParams:
    """Split a prompt from its flags. Raises UsageError naming what is valid."""
    words: list[str] = []
    params = GenerationParams(prompt="")
    tokens = args.split()
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if not token.startswith("--") or token == "--":
            words.append(token)
            index += 1
            continue
        flag, _, inline = token.partition("=")
        if flag == "--no":
            # Takes every word up to the next flag.
            rest = [inline] if inline else []
            index += 1
            while index < len(tokens) and not tokens[index].startswith("--"):
                rest.append(tokens[index])
                index += 1
            if not rest:
                raise UsageError("--no needs the things to avoid, e.g. --no text, watermark")
            params.negative_prompt = " ".join(rest)
            continue
        value = inline or (tokens[index + 1] if index + 1 < len(tokens) else "")
        index += 1 if inline else 2
        _apply_flag(params, flag, value, allowed_sizes)
    params.prompt = " ".join(words).strip()
    return params


def _apply_flag(params: GenerationParams, flag: str, value: str, allowed: list[tuple[int, int]]) -> None:
    if flag not in ("--size", "--ar", "--seed", "--model"):
        raise UsageError(f"Unknown option {flag}. Valid options: {FLAGS_HELP}.")
    if not value or value.startswith("--"):
        raise UsageError(f"{flag} needs a value. Valid options: {FLAGS_HELP}.")
    if flag == "--size":
        params.size = check_size(value, allowed)
    elif flag == "--ar":
        try:
            params.size = nearest_size(parse_ratio(value), allowed)
        except ValueError as exc:
            raise UsageError(f"{exc}. Use --ar W:H, e.g. --ar 16:9.") from None
    elif flag == "--seed":
        if not value.isdigit() or int(value) > 2**32 - 1:
            raise UsageError(f"--seed takes a whole number from 0 to {2**32 - 1}, not '{value}'.")
        params.seed = int(value)
    else:
        params.model = value


def check_size(value: str, allowed: list[tuple[int, int]]) -> tuple[int, int]:
    listing = ", ".join(format_size(s) for s in allowed)
    try:
        size = parse_size(value)
    except ValueError as exc:
        raise UsageError(f"{exc}. Allowed sizes: {listing}.") from None
    if size not in allowed:
        raise UsageError(f"Size {value} is not offered. Allowed sizes: {listing}.")
    return size
