"""The typed commands an adapter hands the core: one dataclass per command, built by the text parser
(console, Telegram) or from a platform's own options (Discord slash commands). The core dispatches on
the type, so nothing is ever turned back into a text line to be parsed twice."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.messages import User
from bot.sizes import format_size, parse_size


class CommandName(StrEnum):
    """Every command the bot has, as users type it (`/imagine`) and platforms register it."""

    IMAGINE = "imagine"
    EDIT = "edit"
    BLEND = "blend"
    ASK = "ask"
    CHAT = "chat"
    THINK = "think"
    DESCRIBE = "describe"
    USAGE = "usage"
    INFO = "info"
    SETTINGS = "settings"
    MODELS = "models"
    CANCEL = "cancel"
    RESET = "reset"
    HELP = "help"
    MOD = "mod"


# Other names people type for a command (Telegram opens every private chat with /start).
ALIASES = {"start": CommandName.HELP}


def command_name(word: str) -> CommandName | None:
    """The command a typed name means, or None when the bot has no such command."""
    word = word.lower()
    if word in ALIASES:
        return ALIASES[word]
    try:
        return CommandName(word)
    except ValueError:
        return None


@dataclass(frozen=True)
class GenerationParams:
    """A prompt with its options, as /imagine and /edit take them."""

    prompt: str
    size: tuple[int, int] | None = None
    seed: int | None = None
    model: str | None = None
    negative_prompt: str | None = None
    # Let the chat model rewrite the prompt into a detailed one first. Not kept with the job: its prompt is
    # the rewritten one, which Reroll reuses as it is.
    enhance: bool = False
    # `--n 2|4`: that many images, shown as one grid with U/V buttons. None: the scope's images_per_prompt.
    count: int | None = None

    def to_json(self) -> dict:
        return {
            "size": format_size(self.size) if self.size else None,
            "seed": self.seed,
            "model": self.model,
            "negative_prompt": self.negative_prompt,
            "count": self.count,
        }

    @classmethod
    def from_json(cls, prompt: str, data: dict) -> GenerationParams:
        return cls(
            prompt=prompt,
            size=parse_size(data["size"]) if data.get("size") else None,
            seed=data.get("seed"),
            model=data.get("model"),
            negative_prompt=data.get("negative_prompt"),
            count=data.get("count"),
        )


@dataclass(frozen=True)
class Imagine:
    params: GenerationParams


@dataclass(frozen=True)
class Edit:
    """Changes the request's attached or replied-to image(s), with the request's mask if any."""

    params: GenerationParams


@dataclass(frozen=True)
class Blend:
    """Blends the request's 2-4 images into one; the prompt (optional) says how."""

    params: GenerationParams


@dataclass(frozen=True)
class Ask:
    question: str  # empty: describe the image


@dataclass(frozen=True)
class Chat:
    text: str
    thinking: bool = False  # `/think`: the model reasons first (shown collapsed, never kept)


@dataclass(frozen=True)
class Describe:
    """Four prompt ideas for the request's image."""


class UsageReport(StrEnum):
    """What `/usage` shows: today's counts (TODAY), or a report of the last days."""

    TODAY = ""
    CHART = "chart"  # images per day for 30 days, as a picture
    TOP = "top"  # admins: the most active members this week
    EXPORT = "export"  # admins: a CSV of the scope's jobs and chat turns


@dataclass(frozen=True)
class Usage:
    report: UsageReport = UsageReport.TODAY


@dataclass(frozen=True)
class Info:
    """Your running jobs here, today's usage and this server's defaults."""


@dataclass(frozen=True)
class ChangeSettings:
    """`setting` None shows them all; "reset" goes back to the defaults (`value` names one, or all)."""

    setting: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Models:
    pass


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class Reset:
    """Forget the request's conversation."""


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Moderate:
    """`/mod <subcommand> [argument]`, for a scope's admins (checked by the core, whatever the platform
    already checked). `subcommand` is one or two lower-case words as typed: "" (a summary), "block add",
    "block remove", "block list", "ban", "unban", "bans", "channel", "roles allow", "roles deny",
    "roles clear", "strictness", "output", "nsfw", "log", "logchannel", "review". `argument` is the rest
    (a term, a mode, a duration and reason, a number). `target` is the member a ban names, where the
    platform resolved one (a Discord user option, the author of the Telegram message replied to);
    `role` a Discord role id from a role option or a `<@&id>` mention."""

    subcommand: str = ""
    argument: str = ""
    target: User | None = None
    role: str | None = None


@dataclass(frozen=True)
class Invalid:
    """A command that could not be parsed; `reason` tells the user what is valid."""

    reason: str


Command = (
    Imagine
    | Edit
    | Blend
    | Ask
    | Chat
    | Describe
    | Usage
    | Info
    | ChangeSettings
    | Models
    | Cancel
    | Reset
    | Help
    | Moderate
    | Invalid
)
